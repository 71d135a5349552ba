"""File-system access for root in a tree the ``wazuh`` account can partly write.

On a manager ``<home>/etc`` and ``<home>/logs`` are ``wazuh:wazuh 0770``: ``wazuh`` can create,
replace and rename anything in them, including symlinks planted while the installer runs. So
paths are walked one component at a time with directory file descriptors: a symlink is followed
only where it sits in a *trusted* directory (owned by root or the installer's own user, writable
by nobody else), never in one another account can write. Directories are created with ``mkdir``
relative to their parent's descriptor and given their owner and mode through their own
descriptor (opened ``O_NOFOLLOW``), so a swap between the two steps cannot redirect a ``chown``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import struct

from wazuh_ocsf_installer.errors import InstallError

#: Owners whose directories root may follow symlinks in: root, and the installer's own user (tests, images).
TRUSTED_UIDS = frozenset({0, os.geteuid()})
_FS_IOC_GETFLAGS = 0x80086601
_FS_IMMUTABLE_FL = 0x00000010
_FS_APPEND_FL = 0x00000020
_MAX_LINKS = 40


class UnsafePathError(InstallError):
    """A path the installer will not act on: a symlink where another account could have planted it."""


def is_trusted(info: os.stat_result) -> bool:
    """Whether only root (or the installer's own user) can change this file or directory."""
    return info.st_uid in TRUSTED_UIDS and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _components(path: str) -> list:
    return [part for part in os.path.normpath(path).split("/") if part and part != "."]


def open_dir(path: str, *, create_mode: int | None = None) -> int:
    """A descriptor of the directory ``path``, reached without following an untrusted symlink.

    ``create_mode``: create missing directories on the way (owned by the installer, this mode).
    Raises FileNotFoundError when a component is missing (and not created), UnsafePathError for a
    symlink in a directory another account can write, NotADirectoryError for anything else.
    """
    if not os.path.isabs(path):
        raise ValueError(f"not an absolute path: {path}")
    pending = _components(path)
    done: list = []
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    links = 0
    try:
        while pending:
            name = pending.pop(0)
            here = "/" + "/".join(done)
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                if create_mode is None:
                    raise
                os.mkdir(name, create_mode, dir_fd=fd)
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                if not is_trusted(os.fstat(fd)):
                    raise UnsafePathError(
                        f"{os.path.join(here, name)} is a symlink in {here}, a directory other accounts can write:"
                        " the installer follows no symlink there; replace it with a directory (or choose another path)"
                    )
                links += 1
                if links > _MAX_LINKS:
                    raise UnsafePathError(f"{path}: too many levels of symbolic links")
                # ``here`` holds no symlink (each step descended a real directory), so resolving
                # ".." in the target lexically is exact; the walk restarts from / on the result.
                target = os.path.normpath(os.path.join(here, os.readlink(name, dir_fd=fd)))
                pending = _components(target) + pending
                os.close(fd)
                fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
                done = []
                continue
            if not stat.S_ISDIR(info.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", os.path.join(here, name))
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
            done.append(name)
        return fd
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str) -> tuple[bytes, os.stat_result] | None:
    """The bytes and ``fstat`` of the regular file ``path``, never through a symlink; None if missing.

    Opened ``O_NONBLOCK`` so a FIFO planted in its place cannot hang the installer.
    """
    parent, name = os.path.split(os.path.normpath(path))
    try:
        dir_fd = open_dir(parent)
    except FileNotFoundError:
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(
                f"{path} is a symlink: the installer reads and replaces only regular files there;"
                ' replace the link with the file itself (cp --remove-destination "$(readlink -f {path})" {path})'
            ) from None
        raise InstallError(f"cannot open {path}: {exc.strerror}") from None
    finally:
        os.close(dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InstallError(f"{path} is not a regular file: move it away and re-run the installer")
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks), info
    finally:
        os.close(fd)


def _attr_flags(path: str) -> int:
    """The file's ``chattr`` flags, or 0 where the file system has none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(fd, _FS_IOC_GETFLAGS, b"\0\0\0\0"))[0]
    except OSError:
        return 0
    finally:
        os.close(fd)


def check_replaceable(path: str) -> None:
    """Refuse, before anything changes, a file (or its directory) that cannot be replaced by a rename.

    ``chattr +i`` or ``+a`` on the file or on its directory makes the final rename fail; a
    read-only mount too. Found now, the installer stops with the fix instead of half-applying.
    """
    directory = os.path.dirname(path)
    for where in (path, directory):
        flags = _attr_flags(where)
        if flags & (_FS_IMMUTABLE_FL | _FS_APPEND_FL):
            kind = "immutable" if flags & _FS_IMMUTABLE_FL else "append-only"
            letter = "i" if flags & _FS_IMMUTABLE_FL else "a"
            raise InstallError(
                f"{where} is {kind} (chattr +{letter}): the installer cannot replace {path};"
                f" nothing was changed. Run `chattr -{letter} {where}` and re-run the installer"
            )
    if os.path.isdir(directory) and os.statvfs(directory).f_flag & os.ST_RDONLY:
        raise InstallError(f"{directory} is on a read-only file system: the installer cannot replace {path}")


def stat_dir(path: str) -> os.stat_result | None:
    """``fstat`` of the directory ``path`` reached by :func:`open_dir`; None when it is missing.

    Raises UnsafePathError (untrusted symlink on the way) or NotADirectoryError.
    """
    try:
        fd = open_dir(path)
    except FileNotFoundError:
        return None
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def _permits(info: os.stat_result, uid: int, gid: int, bits: int) -> bool:
    """Whether ``uid:gid`` has the ``rwx`` ``bits`` (as 0o7 for the owner) on the file by its mode."""
    if info.st_uid == uid:
        return info.st_mode & (bits << 6) == bits << 6
    if info.st_gid == gid:
        return info.st_mode & (bits << 3) == bits << 3
    return info.st_mode & bits == bits


def unusable_by(path: str, uid: int, gid: int) -> str | None:
    """Why ``uid:gid`` cannot create files in the directory ``path`` (None: it can)."""
    info = stat_dir(path)
    if info is None:
        return f"{path} does not exist"
    if not _permits(info, uid, gid, 0o3):
        return f"{path} is {info.st_uid}:{info.st_gid} {stat.S_IMODE(info.st_mode):04o}: the account cannot write it"
    parent = os.path.dirname(os.path.normpath(path))
    while True:
        info = stat_dir(parent)
        if info is not None and not _permits(info, uid, gid, 0o1):
            return f"{parent} ({stat.S_IMODE(info.st_mode):04o}) does not let the account through"
        if parent == "/":
            return None
        parent = os.path.dirname(parent)


def ensure_dir(path: str, uid: int, gid: int, mode: int, *, may_fix: bool) -> bool:
    """Make ``path`` a directory owned ``uid:gid`` with ``mode``; True if this call created it.

    Missing parents are created owned by the installer, 0755. An existing directory keeps its
    owner and mode unless ``may_fix`` (the installer created it); otherwise a mismatch raises.
    The owner and mode are set through a descriptor reached by :func:`open_dir` after ``mkdir``,
    so a symlink swapped in between (in a directory others can write) is refused, not followed.
    """
    parent, name = os.path.split(os.path.normpath(path))
    dir_fd = open_dir(parent, create_mode=0o755)
    try:
        os.mkdir(name, 0o700, dir_fd=dir_fd)
        created = True
    except FileExistsError:
        created = False
    finally:
        os.close(dir_fd)
    try:
        fd = open_dir(path)
    except NotADirectoryError:
        raise UnsafePathError(
            f"{path} is not a directory: nothing was changed there; move it away and re-run"
        ) from None
    try:
        info = os.fstat(fd)
        if (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) != (uid, gid, mode):
            if not (created or may_fix):
                raise UnsafePathError(
                    f"{path} is {info.st_uid}:{info.st_gid} {stat.S_IMODE(info.st_mode):04o}, not {uid}:{gid}"
                    f" {mode:04o}, and the installer did not create it: it changes no owner or mode there"
                )
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
        return created
    finally:
        os.close(fd)


def remove_tree(path: str) -> None:
    """Delete ``path`` (a tree, a file or a symlink) relative to its parent's descriptor.

    The parent is reached by :func:`open_dir` and made the working directory, so no symlink in
    the path (planted while the installer ran) can point the deletion elsewhere; inside the
    tree ``shutil.rmtree`` follows no symlink either.
    """
    parent, name = os.path.split(os.path.normpath(path))
    try:
        dir_fd = open_dir(parent)
    except FileNotFoundError:
        return
    saved = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fchdir(dir_fd)
        try:
            info = os.lstat(name)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(name)
        else:
            os.unlink(name)
    finally:
        os.fchdir(saved)
        os.close(saved)
        os.close(dir_fd)
