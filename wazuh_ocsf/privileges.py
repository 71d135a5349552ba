"""Run as the spool's owner: a flush started as root must not lock the hook out of the spool.

The hook runs as the user of wazuh-integratord (``wazuh``) and must be able to write every
file and directory in the spool. A flush started by root (by hand, or from root's crontab)
would otherwise create root-owned manifests, lock files, segments and dead-letter files.
So before touching the spool, a root process switches to the user and group that own the
spool directory (``wazuh:wazuh``, as the installer makes it). Everything the flush writes
afterwards (the local sink's output directory included) is owned by that user.
"""

from __future__ import annotations

import logging
import os

from wazuh_ocsf.errors import SpoolError

log = logging.getLogger(__name__)


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
    log.info("running as uid %d gid %d, the owner of %s", status.st_uid, status.st_gid, spool_dir)
    return True
