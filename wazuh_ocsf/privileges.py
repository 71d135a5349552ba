"""Run as the spool's owner: a flush started as root must not lock the hook out of the spool.

The hook runs as the user of wazuh-integratord (``wazuh``) and must be able to write every
file and directory in the spool. A flush started by root (by hand, or from root's crontab)
would otherwise create root-owned manifests, lock files, segments and dead-letter files.
So before touching the spool, a root process switches to the user and group that own the
spool directory (``wazuh:wazuh``, as the installer makes it). Everything the flush writes
afterwards (the local sink's output directory included) is owned by that user.
"""

from __future__ import annotations

import errno
import logging
import os
import pwd

from wazuh_ocsf.errors import SpoolError

log = logging.getLogger(__name__)

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
    """If running as root, switch to the owner of ``spool_dir`` for good; True if switched.

    Does nothing when not root, or when the spool directory is owned by root. Raises
    SpoolError when the directory is missing (a root process must not create it) or the
    switch fails.
    """
    if os.geteuid() != 0:
        return False
    try:
        status = os.stat(spool_dir)
    except FileNotFoundError:
        raise SpoolError(
            f"spool directory {spool_dir} does not exist: run the installer or create it owned by the "
            "user wazuh-integratord runs as (wazuh), or set WAZUH_OCSF_SPOOL_DIR"
        ) from None
    except OSError as exc:
        raise SpoolError(f"cannot stat the spool directory {spool_dir}: {exc.strerror or exc}") from None
    if status.st_uid == 0:
        return False
    try:
        os.setgroups([])
        os.setgid(status.st_gid)
        os.setuid(status.st_uid)
    except OSError as exc:
        raise SpoolError(
            f"cannot switch from root to the spool owner (uid {status.st_uid}, gid {status.st_gid}) of "
            f"{spool_dir}: {exc.strerror or exc}"
        ) from None
    global _switched_from_root
    _switched_from_root = True
    log.info("running as %s (uid %d gid %d), the owner of %s", user_name(), status.st_uid, status.st_gid, spool_dir)
    return True
