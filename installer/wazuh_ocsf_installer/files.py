"""Planned changes to files: what would change, shown readably, then applied atomically.

A :class:`Change` is computed against the file system as it is, so the same plan serves
``--dry-run`` (print it) and a real run (print and apply it). Files are written under a temp
name in the same directory, given their owner and mode, then renamed over the target.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import tempfile
from typing import Callable

from wazuh_ocsf.durable import fsync_path
from wazuh_ocsf_installer import safe_fs
from wazuh_ocsf_installer.errors import InstallError, UsageError


class Owner:
    """A numeric owner and group with the names they were asked by, for display."""

    def __init__(self, uid: int, gid: int, label: str) -> None:
        self.uid = uid
        self.gid = gid
        self.label = label


def _lookup(database: str, name: str, root_dir: str | None) -> int | None:
    """The id of ``name`` in ``<root>/etc/passwd`` or ``group`` when that file exists, else the host's."""
    if name.isdigit():
        return int(name)
    if root_dir:
        path = os.path.join(root_dir, "etc", database)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    fields = line.rstrip("\n").split(":")
                    if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
                        return int(fields[2])
    try:
        return pwd.getpwnam(name).pw_uid if database == "passwd" else grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def resolve_owner(user: str, group: str, root_dir: str | None, *, owner_user: str | None = None) -> Owner:
    """``user``:``group`` as numbers (``owner_user`` overrides the user, e.g. ``root``).

    Under ``--root`` the names are looked up in the root's own ``etc/passwd``/``etc/group`` first,
    so an image can be built with the image's ids.
    """
    uid = _lookup("passwd", owner_user or user, root_dir)
    if uid is None:
        raise UsageError(
            f"no user {owner_user or user!r} on this system: is this a Wazuh manager? (pass --user/--group to choose)"
        )
    gid = _lookup("group", group, root_dir)
    if gid is None:
        raise UsageError(f"no group {group!r} on this system: is this a Wazuh manager? (pass --group to choose)")
    return Owner(uid, gid, f"{owner_user or user}:{group}")


class Change:
    """One planned change: a verb (``create``, ``update``, ``remove``, ``keep``, ``run``), what, and how."""

    def __init__(
        self, verb: str, what: str, detail: str = "", apply: Callable[[], None] | None = None, body: str = ""
    ) -> None:
        self.verb = verb
        self.what = what
        self.detail = detail
        self.apply = apply
        self.body = body

    def lines(self, dry_run: bool) -> list[str]:
        verb = {"keep": "unchanged"}.get(self.verb, self.verb)
        if dry_run and self.verb != "keep":
            verb = "would " + verb
        head = f"  {verb:<15} {self.what}" + (f"  ({self.detail})" if self.detail else "")
        out = [head]
        if self.body:
            out.extend("      " + line if line else "" for line in self.body.rstrip("\n").split("\n"))
        return out


def owner_names(uid: int, gid: int) -> str:
    """``user:group`` of numeric ids, by name where this system knows them."""
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return f"{user}:{group}"


def mode_text(mode: int) -> str:
    return format(mode, "04o")


def _state(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def write_atomic(path: str, data: bytes, uid: int, gid: int, mode: int) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory, with owner and mode, then rename.

    The temp name is unpredictable and created ``O_EXCL`` (``mkstemp``): in ``etc/``, which the
    ``wazuh`` account can write, a symlink planted under a guessable name cannot receive the data,
    the owner or the mode. The rename replaces whatever is at ``path`` without following it.
    """
    directory, name = os.path.split(path)
    fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
    with os.fdopen(fd, "wb") as handle:
        try:
            handle.write(data)
            handle.flush()
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.fsync(fd)  # through the descriptor: the name is never opened again
        except BaseException:
            os.unlink(temp)
            raise
    os.replace(temp, path)
    fsync_path(directory or ".")


def plan_file(
    path: str, shown: str, data: bytes, owner: Owner, mode: int, *, body: str = "", secret: bool = False
) -> Change:
    """Make ``path`` hold ``data`` with ``owner`` and ``mode``."""
    detail = f"{owner.label} {mode_text(mode)}"
    current = _state(path)
    if current is not None and stat.S_ISREG(current.st_mode):
        found = safe_fs.read_regular(path)
        same = found is not None and found[0] == data
        if same and (current.st_uid, current.st_gid, stat.S_IMODE(current.st_mode)) == (owner.uid, owner.gid, mode):
            return Change("keep", shown, detail)
        verb = "update" if not same else "fix owner/mode"
    elif current is not None:
        raise InstallError(f"{path} exists and is not a regular file: move it away and re-run the installer")
    else:
        verb = "create"
    safe_fs.check_replaceable(path)

    def apply() -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, data, owner.uid, owner.gid, mode)

    return Change(verb, shown, detail, apply, body if verb != "fix owner/mode" else "")


def plan_dir(path: str, shown: str, owner: Owner, mode: int) -> Change:
    """Make ``path`` a directory with ``owner`` and ``mode`` (parents as needed, root-owned 0755)."""
    detail = f"{owner.label} {mode_text(mode)}"
    current = _state(path)
    if current is not None and not stat.S_ISDIR(current.st_mode):
        raise InstallError(f"{path} exists and is not a directory: move it away and re-run the installer")
    if current is not None and (current.st_uid, current.st_gid, stat.S_IMODE(current.st_mode)) == (
        owner.uid,
        owner.gid,
        mode,
    ):
        return Change("keep", shown + "/", detail)

    def apply() -> None:
        os.makedirs(path, exist_ok=True)
        os.chown(path, owner.uid, owner.gid)
        os.chmod(path, mode)

    return Change("create" if current is None else "fix owner/mode", shown + "/", detail, apply)


def plan_symlink(path: str, shown: str, target: str) -> Change:
    """Make ``path`` a symlink to ``target``; refuse to replace anything that is not a symlink."""
    current = _state(path)
    if current is not None:
        if not stat.S_ISLNK(current.st_mode):
            raise InstallError(f"{path} exists and is not a symlink: move it away and re-run the installer")
        if os.readlink(path) == target:
            return Change("keep", shown, f"-> {target}")

    def apply() -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temp = f"{path}.wazuh-ocsf-new"
        if os.path.lexists(temp):
            os.unlink(temp)
        os.symlink(target, temp)
        os.replace(temp, path)

    return Change("create" if current is None else "update", shown, f"-> {target}", apply)


def plan_remove(path: str, shown: str, detail: str = "") -> Change | None:
    """Remove a file, symlink or whole directory tree; None when there is nothing there."""
    current = _state(path)
    if current is None:
        return None

    def apply() -> None:
        safe_fs.remove_tree(path)

    return Change("remove", shown + ("/" if stat.S_ISDIR(current.st_mode) else ""), detail, apply)


def read_text(path: str) -> str | None:
    """A text file's content, every byte kept (undecodable bytes as surrogates); None if missing."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return None


def encode(text: str) -> bytes:
    """The inverse of :func:`read_text`."""
    return text.encode("utf-8", "surrogateescape")
