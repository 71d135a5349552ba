"""Durable file writes: a temporary name in the same directory, forced to disk, then renamed.

A reader sees the old file or the whole new one, never a part; after a crash at most a hidden
temporary file (``.<name>.<random>.tmp``, skipped by dataset readers) is left, and it is removed
when the write fails. Every function raises OSError; callers turn it into their own error.

:func:`atomic_write` is safe in a directory another user can write (``<home>/etc`` is
``wazuh:wazuh 0770``, and root writes ``ossec.conf`` and ``wazuh-ocsf.conf`` there): its
temporary file has an unpredictable name and is created with ``O_EXCL|O_NOFOLLOW``, so a
file or symlink planted in advance is never opened, and the rename replaces a planted symlink
at the target instead of following it.

Not for the hook's path (``spool``, ``dead_letter``, ``hook``): those keep their own few lines
so that they import nothing more.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
from collections.abc import Iterable, Iterator
from typing import IO


def temp_path(path: str | os.PathLike) -> str:
    """A hidden per-process temporary name beside ``path``, for writers that create the file themselves.

    Predictable: only for directories no other user can write (the spool, the output tree).
    Elsewhere use :func:`atomic_write` or :func:`create_temp`.
    """
    directory, name = os.path.split(os.fspath(path))
    return os.path.join(directory, f".{name}.{os.getpid()}.tmp")


def create_temp(path: str | os.PathLike, mode: int = 0o666) -> tuple:
    """Create a new hidden temporary file beside ``path``; ``(fd, its name)``, opened for writing.

    The name is unpredictable (``.<name>.<random>.tmp``) and the file is created with
    ``O_CREAT|O_EXCL|O_NOFOLLOW``: never an existing file, never through a symlink. ``mode``
    is the creation mode under the umask, as with :func:`open`.
    """
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):  # a collision of 48 random bits is someone guessing: stop after a while
        temp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(temp, flags, mode), temp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", os.path.join(directory, f".{name}.*.tmp"))


def fsync_path(path: str | os.PathLike) -> None:
    """Force a file, or a directory's entries (a rename in it), to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike,
    *,
    binary: bool = False,
    mode: int = 0o666,
    fsync: bool = True,
    sync_dir: bool = False,
) -> Iterator[IO]:
    """Open a temporary file for ``path``; when the block ends, force it to disk and rename it over ``path``.

    ``mode`` is the new file's creation mode (the umask applies, as with :func:`open`); the block
    may ``os.fchmod``/``os.fchown`` the handle's file to set it exactly. ``fsync=False`` skips the
    forcing (the rename stays atomic, only not durable); ``sync_dir`` also forces the directory.
    If the block or the write fails, the temporary file is removed and the error goes on.
    """
    fd, temp = create_temp(path, mode)
    with _removed_on_failure(temp):
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        _rename(temp, path, sync_dir)


@contextlib.contextmanager
def _removed_on_failure(temp: str | os.PathLike) -> Iterator[None]:
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _rename(temp: str | os.PathLike, path: str | os.PathLike, sync_dir: bool) -> None:
    os.replace(temp, path)
    if sync_dir:
        fsync_path(os.path.dirname(os.path.abspath(path)))


def read_json_state(path: str | os.PathLike) -> dict:
    """The JSON object in ``path``; ``{}`` when missing, unreadable (logged) or not an object."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logging.getLogger(__name__).warning("cannot read %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def write_json_atomic(path: str | os.PathLike, data, *, fsync: bool = True) -> None:
    """Write ``data`` as one JSON line (sorted keys) with :func:`atomic_write`."""
    with atomic_write(path, fsync=fsync) as handle:
        json.dump(data, handle, sort_keys=True)
        handle.write("\n")


def append_durably(path: str | os.PathLike, chunks: Iterable[bytes], *, mode: int = 0o640) -> None:
    """Append each chunk with one ``os.write`` (whole records, as concurrent appenders expect), then fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, mode)
    try:
        for chunk in chunks:
            os.write(fd, chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
