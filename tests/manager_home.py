"""A fake Wazuh manager home with Wazuh's real owners and modes, and a real ``wazuh`` account.

For the tests that play a compromised ``wazuh`` account against root: the directories that
account can write on a real manager (``etc``, ``logs`` ``wazuh:wazuh 0770``; the spool) are
writable by it here too, so an attack planted "as wazuh" is the real thing. Needs root (CI
runs the tests as root); the ``wazuh`` user and group are created when missing.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

USER = "wazuh"


def wazuh_account() -> pwd.struct_passwd:
    """The ``wazuh`` account (a system user with its own group), created when missing."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pass
    try:
        grp.getgrnam(USER)
    except KeyError:
        subprocess.run(["groupadd", "--system", USER], check=True)
    subprocess.run(
        ["useradd", "--system", "--gid", USER, "--home-dir", "/var/ossec", "--no-create-home",
         "--shell", "/usr/sbin/nologin", USER],
        check=True,
    )
    return pwd.getpwnam(USER)


class ManagerHome:
    """``<base>/ossec`` laid out as Wazuh 4.x installs it (owners and modes as in the brief).

    ``base`` is a fresh directory under /tmp, root-owned 0755 (pytest's own temporary
    directories are root-only, which the ``wazuh`` account could not even enter).
    """

    def __init__(self) -> None:
        self.account = wazuh_account()
        self.uid, self.gid = self.account.pw_uid, self.account.pw_gid
        self.base = Path(tempfile.mkdtemp(prefix="wazuh-ocsf-trust-"))
        self.base.chmod(0o755)
        self.home = self.base / "ossec"
        self.etc = self.home / "etc"
        self.logs = self.home / "logs"
        self.config = self.etc / "wazuh-ocsf.conf"
        self.ossec_conf = self.etc / "ossec.conf"
        self.spool = self.home / "wazuh-ocsf" / "spool"
        self._dir(self.home, 0, self.gid, 0o750)
        self._dir(self.etc, self.uid, self.gid, 0o770)
        self._dir(self.logs, self.uid, self.gid, 0o770)
        self._dir(self.home / "integrations", 0, self.gid, 0o750)
        self._dir(self.home / "wazuh-ocsf", 0, self.gid, 0o750)
        self._dir(self.spool, self.uid, self.gid, 0o750)
        self._file(self.ossec_conf, b"<ossec_config>\n</ossec_config>\n", 0, self.gid, 0o660)
        self.write_config({"WAZUH_OCSF_SPOOL_DIR": str(self.spool), "WAZUH_OCSF_NODE_NAME": "manager-1",
                           "WAZUH_OCSF_OUTPUT_DIR": str(self.base / "lake")})
        self._dir(self.base / "lake", self.uid, self.gid, 0o750)

    def write_config(self, values: dict, *, owner: int = 0) -> None:
        """(Re)write ``etc/wazuh-ocsf.conf`` (``root:wazuh 0640``, or owned by ``owner``)."""
        text = "".join(f"{key}={value}\n" for key, value in values.items())
        self._file(self.config, text.encode(), owner, self.gid, 0o640)

    def as_wazuh(self) -> None:
        """``preexec_fn`` that makes a child process the ``wazuh`` account (the attacker)."""
        os.setgroups([])
        os.setgid(self.gid)
        os.setuid(self.uid)

    def plant(self, path: Path, *, target: Path | None = None, data: bytes = b"") -> None:
        """As ``wazuh`` would: a symlink to ``target``, or a file holding ``data``, owned by wazuh."""
        if target is not None:
            path.symlink_to(target)
            os.lchown(path, self.uid, self.gid)
        else:
            self._file(path, data, self.uid, self.gid, 0o660)

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    @staticmethod
    def _dir(path: Path, uid: int, gid: int, mode: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, uid, gid)
        path.chmod(mode)

    @staticmethod
    def _file(path: Path, data: bytes, uid: int, gid: int, mode: int) -> None:
        path.write_bytes(data)
        os.chown(path, uid, gid)
        path.chmod(mode)


def snapshot(*paths: Path) -> dict:
    """Owner, group, mode and content (or link target) of every path below each of ``paths``."""
    seen = {}
    for top in paths:
        for path in [top, *(top.rglob("*") if top.is_dir() and not top.is_symlink() else [])]:
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                seen[str(path)] = None
                continue
            if stat.S_ISLNK(st.st_mode):
                body = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                body = ("file", path.read_bytes())
            else:
                body = ("dir", None)
            seen[str(path)] = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), body)
    return seen
