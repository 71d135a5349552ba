"""What a command started as root may trust, and whom it becomes before it trusts anything else.

The hook runs as the user of wazuh-integratord (``wazuh``), which can write ``<home>/etc``
and ``<home>/logs`` (``wazuh:wazuh 0770``) and the whole spool. A command started by root
(by hand, or from root's crontab) must not let that account steer it, so before it reads a
file or writes the spool it asks :func:`first_untrusted` who else could change that path:

* a config file only root can change (it and every directory above it root-owned and not
  writable by group or others) is read as root; any other config file is read only after
  switching to the account that can change it (:func:`load_settings_safely`): the installer's
  ``<home>/etc/wazuh-ocsf.conf`` is read as ``wazuh``;
* the spool is then written as the account that controls it (:func:`become_spool_owner`),
  ``wazuh:wazuh`` as the installer makes it, so root never creates files the hook cannot
  write, and never follows a symlink that account planted to another user's directory.

A path that root owns but a group or others may write (``root:wazuh 0770``) names no single
account to become: root refuses it with a message saying what to change.
"""

from __future__ import annotations

import errno
import logging
import os
import pwd
import stat

from wazuh_ocsf.errors import ConfigError, SpoolError

log = logging.getLogger(__name__)

_MAX_SYMLINKS = 40  # as the kernel's ELOOP limit


def _others_may_write(st: os.stat_result) -> bool:
    return bool(st.st_mode & 0o022)


def first_untrusted(path: str) -> os.stat_result | None:
    """The ``lstat`` of the first component of ``path`` that an account other than root could change.

    The walk goes from ``/`` down, through every directory and then the file, resolving
    symlinks only where root alone could have made them. A component is untrusted when it is
    not owned by root, or root's but writable by group or others (a root-owned sticky
    directory such as ``/tmp`` is trusted for the entries root owns in it, not for a missing
    one, which anyone may create). None: only root can change what ``path`` names (it may not
    exist). Raises OSError for a symlink loop or an unreadable directory.
    """
    pending = [part for part in os.path.abspath(path).split("/") if part]
    current = "/"
    st = os.lstat(current)
    if st.st_uid != 0 or _others_may_write(st):
        return st
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            current = os.path.dirname(current)
            st = os.lstat(current)
            continue
        parent = st
        candidate = os.path.join(current, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            sticky_open = _others_may_write(parent) and parent.st_mode & stat.S_ISVTX
            return parent if sticky_open else None
        if st.st_uid != 0:
            return st
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > _MAX_SYMLINKS:
                raise OSError(40, "too many levels of symbolic links", path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = "/"
            pending[:0] = [p for p in target.split("/") if p]
            st = os.lstat(current)
            continue
        if _others_may_write(st) and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
            return st
        current = candidate
    return None


def _switch_to(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def load_settings_safely(config: str | None = None, *, preload: tuple = ()):
    """:func:`~wazuh_ocsf.config.load_settings`, reading the file as whoever can change it.

    As root, the config file (``config``, else ``WAZUH_OCSF_CONFIG``, else the default) is
    checked first: when an account other than root could change it or a directory above it,
    this process becomes that account for good before reading it. ``preload`` names the
    modules the command needs, imported first, while root can still read a Python
    installation that account may not. Raises ConfigError when the switch cannot be done
    (a root-owned component writable by a group: there is no one account to become).
    """
    import importlib

    from wazuh_ocsf.config import load_settings

    if os.geteuid() == 0:
        for name in preload:
            importlib.import_module(name)
        path, st = _config_controller(config)
        if st is not None:
            if st.st_uid == 0:
                raise ConfigError(
                    path,
                    "running as root, refusing a config file that a group or others may change (a directory or "
                    "the file itself is writable by them): make it root-owned and not group-writable, or run this "
                    "command as the wazuh user",
                )
            try:
                _switch_to(st.st_uid, st.st_gid)
            except OSError as exc:
                raise ConfigError(path, f"cannot switch to uid {st.st_uid}: {exc.strerror or exc}") from None
            log.info("running as uid %d gid %d, who can change %s", st.st_uid, st.st_gid, path)
    return load_settings(path=config)


def load_settings_staying_root(config: str | None = None) -> tuple:
    """``(settings, config path, skipped)`` for a command that must keep root's identity (its AWS credentials).

    As root, a config file that another account could change (:func:`first_untrusted`) is
    not read at all: the settings come from the environment and the defaults, and
    ``skipped`` says why the file was left out (None when it was read). The path is still
    returned, for :func:`~wazuh_ocsf.config_file.update_settings`, which writes it safely.
    """
    from wazuh_ocsf.config import config_location, load_settings

    if os.geteuid() != 0:
        return load_settings(path=config), config_location(path=config)[1], None
    path, st = _config_controller(config)
    if st is None:
        return load_settings(path=config), path, None
    skipped = f"uid {st.st_uid} (gid {st.st_gid}) can change it or a directory above it"
    return load_settings(path=os.devnull), path, skipped


def _config_controller(config: str | None) -> tuple:
    """``(config file path, first_untrusted(path))``; ConfigError when that cannot be checked."""
    from wazuh_ocsf.config import config_location

    _home, path = config_location(path=config)
    try:
        return path, first_untrusted(path)
    except OSError as exc:
        raise ConfigError(path, f"cannot check who may change the config file: {exc.strerror or exc}") from None


_switched_from_root = False  # set once this process gave up root for the spool's owner


def user_name(uid: int | None = None) -> str:
    """The name of ``uid`` (default: this process's effective user), or the number when it has none."""
    uid = os.geteuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def running_as() -> str:
    """Who this process writes as, for messages: ``wazuh after dropping root``, ``root``, ``alice``."""
    return user_name() + (" after dropping root" if _switched_from_root else "")


def permission_hint(exc: OSError, path: str | os.PathLike) -> str:
    """For a permission error: `` (ran as wazuh after dropping root: make DIR writable by wazuh)``; else ``""``."""
    if exc.errno not in (errno.EACCES, errno.EPERM):
        return ""
    return f" (ran as {running_as()}: make {path} writable by {user_name()})"


def become_spool_owner(spool_dir: str) -> bool:
    """If running as root, switch for good to the account that controls ``spool_dir``; True if switched.

    That is the owner of the spool directory (``wazuh``), or of a directory above it when
    another account could replace the spool there (never following a symlink that account
    planted). Does nothing when not root, or when only root can change the spool. Raises
    SpoolError when the directory is missing (a root process must not create it), when root
    owns it but a group may write it, or the switch fails.
    """
    if os.geteuid() != 0:
        return False
    try:
        os.stat(spool_dir)
        st = first_untrusted(spool_dir)
    except FileNotFoundError:
        raise SpoolError(
            f"spool directory {spool_dir} does not exist: run the installer or create it owned by the "
            "user wazuh-integratord runs as (wazuh), or set WAZUH_OCSF_SPOOL_DIR"
        ) from None
    except OSError as exc:
        raise SpoolError(f"cannot stat the spool directory {spool_dir}: {exc.strerror or exc}") from None
    if st is None:
        return False
    if st.st_uid == 0:
        raise SpoolError(
            f"refusing to use the spool {spool_dir} as root: a group or others may write it or a directory above "
            "it; chown the spool to the user wazuh-integratord runs as (wazuh) and keep its parents root-only"
        )
    try:
        _switch_to(st.st_uid, st.st_gid)
    except OSError as exc:
        raise SpoolError(
            f"cannot switch from root to the spool owner (uid {st.st_uid}, gid {st.st_gid}) of "
            f"{spool_dir}: {exc.strerror or exc}"
        ) from None
    global _switched_from_root
    _switched_from_root = True
    log.info("running as %s (uid %d gid %d), the owner of %s", user_name(), st.st_uid, st.st_gid, spool_dir)
    return True
