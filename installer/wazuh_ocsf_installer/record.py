"""What the installer created, recorded where only root can write: ``<home>/wazuh-ocsf/installed.json``.

Root acts on directories named by settings that the ``wazuh`` account may have rewritten, so a
path's presence in ``etc/wazuh-ocsf.conf`` gives no right to chown, chmod or delete it. The record
does: it lists the directories the installer created (the spool, the local sink's directory) and
the ``--monitor-group``. It lives in ``<home>/wazuh-ocsf/`` (root-owned 0750,
in the root-owned home) and is believed only when it and every directory above it are writable by
root alone.
"""

from __future__ import annotations

import json
import os

from wazuh_ocsf_installer import safe_fs
from wazuh_ocsf_installer.errors import InstallError
from wazuh_ocsf_installer.files import write_atomic

FILE_NAME = "installed.json"


class InstallRecord:
    """The record at ``path`` (physical): created directories (logical paths) and the monitor group."""

    def __init__(self, path: str, data: dict | None = None) -> None:
        self.path = path
        data = data or {}
        self.created_dirs: list = list(data.get("created_dirs") or [])
        #: The ``--monitor-group`` that may read the status view (None: none).
        self.monitor_group: str | None = data.get("monitor_group")

    @classmethod
    def load(cls, path: str) -> InstallRecord:
        """The record, or an empty one when there is none; refuse one that others could have written."""
        try:
            found = safe_fs.read_regular(path)
        except safe_fs.UnsafePathError as exc:
            raise InstallError(f"the install record is not trustworthy: {exc}") from None
        if found is None:
            return cls(path)
        data, info = found
        directory = safe_fs.open_dir(os.path.dirname(path))
        try:
            parent_ok = safe_fs.is_trusted(os.fstat(directory))
        finally:
            os.close(directory)
        if not (safe_fs.is_trusted(info) and parent_ok and info.st_nlink == 1):
            raise InstallError(
                f"{path} (the installer's record of what it created) is writable by another account or not"
                " owned by root: the installer does not trust it; check it, make it and its directory root-owned"
                " and not group- or world-writable, and re-run"
            )
        try:
            return cls(path, json.loads(data.decode("utf-8")))
        except ValueError as exc:
            raise InstallError(f"{path} is not valid JSON ({exc}): move it away and re-run the installer") from None

    def created(self, logical: str) -> bool:
        return os.path.normpath(logical) in self.created_dirs

    def add_dir(self, logical: str) -> None:
        """Record ``logical`` as created by the installer, durably, right away."""
        logical = os.path.normpath(logical)
        if logical not in self.created_dirs:
            self.created_dirs.append(logical)
            self.save()

    def set_monitor_group(self, value: str | None) -> None:
        if value != self.monitor_group:
            self.monitor_group = value
            self.save()

    def save(self) -> None:
        data = {"created_dirs": self.created_dirs}
        if self.monitor_group:
            data["monitor_group"] = self.monitor_group
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        write_atomic(self.path, text.encode(), os.geteuid(), os.getegid(), 0o600)
