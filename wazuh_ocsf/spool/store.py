"""The spool: a write-ahead log of OCSF events between the hook and the flusher.

Layout under ``settings.spool_dir`` (the directory itself is made by the installer; the hook
never creates it, so a missing spool is reported instead of silently recreated elsewhere)::

    .lock            fcntl.flock lock: appends, sealing, releases and ``state/usage`` happen under it
    .own.lock        taken by a hook writing a segment of its own, and to fold ``state/own``
    .flush.lock      held by the one flusher at work (``Spool.flush_lock``)
    segments/        <stem>.open    the active segment (at most one), appended to by hooks
                     <stem>.ndjson  sealed segments, never written again, read by the flusher
                     .tmp-*         a hook's own segment being written (see below)
    dead-letter/     rejected alerts and spool lines (``wazuh_ocsf.spool.dead_letter``)
    state/sequence   next segment sequence number of this node
    state/usage      ``<bytes of sealed segments> <active segment stem or ->``: what an append needs
    state/own        ``<bytes> <file>`` per segment a hook wrote without the lock, not yet in usage
    state/refused    one byte per event refused at the size cap (its size is the count)
    state/dropped    one JSON line per segment deleted by the ``drop-oldest`` policy

A segment's stem is ``<node>-<YYYYMMDDTHHMMSSZ>-<sequence>`` (creation time in UTC): the node
name keeps cluster nodes apart and the persisted sequence keeps a stem unique on its node
forever, even after its segment was delivered and deleted, because the flusher derives object
names from it. When a hook cannot get the lock within ``lock_timeout`` it writes its line to
a segment of its own (``<node>-<time>-p<pid>x<random>``, temp name, then rename) so the
manager never waits on a slow flusher.

An append costs the same whatever the backlog: it reads ``state/usage`` and stats the active
segment, and never lists or stats the sealed ones (a lake outage piles them up by thousands).
Every change of more than one step (sealing, creating a segment, a release, a drop) first
removes ``state/usage`` and writes it anew at the end, all under the lock; a process killed in
between leaves no usage file, and the next lock holder rebuilds it from one directory scan. So
do a missing or stale active segment and ``seal_active`` (the flusher's, which lists the
directory anyway and so also corrects files an operator deleted by hand). The usage file is
never forced to disk: after a power loss the flusher's next ``seal_active`` rebuilds it.

Every append is one ``os.write`` of a whole line on an ``O_APPEND`` descriptor under the lock;
a writer that finds the active segment not ending in a newline (a writer was killed mid-line)
writes one first, so a torn line stays one bad line that readers send to the dead-letter
directory. A short write (disk full) is truncated back and reported.

Durability (``fsync`` setting): ``append`` forces every line to disk, ``rotate`` (default) forces
a segment when it is sealed, ``never`` leaves it to the kernel. A killed process loses nothing
in any mode; a power loss or kernel crash may lose the active segment's unsynced lines under
``rotate`` and everything unsynced under ``never``.

The hook imports this module on every alert: standard library only, cheap imports only.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

from wazuh_ocsf.errors import SpoolBusyError, SpoolError, SpoolFullError
from wazuh_ocsf.mapping.timestamps import days_from_civil

SEGMENTS = "segments"
DEAD_LETTER = "dead-letter"
STATE = "state"
LOCK_FILE = ".lock"
OWN_LOCK_FILE = ".own.lock"
USAGE_FILE = "usage"
OWN_FILE = "own"
FLUSH_LOCK_FILE = ".flush.lock"
ACTIVE_SUFFIX = ".open"
SEALED_SUFFIX = ".ndjson"
TEMP_PREFIX = ".tmp-"

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_FILE_MODE = 0o640
_DIR_MODE = 0o750


def node_token(node: str) -> str:
    """A node name made safe for file and object names: only ``[A-Za-z0-9._-]``, never empty."""
    token = "".join(c if c in _NAME_CHARS else "_" for c in str(node)).strip(".")
    return token or "node"


def split_lines(data: bytes) -> tuple[bytes, bytes]:
    """Split a segment's bytes into its complete lines and a torn tail.

    The first part ends with ``\\n`` (or is empty); the tail is what follows the last newline:
    empty for a well-formed segment, the remains of a killed writer's line otherwise.
    """
    end = data.rfind(b"\n") + 1
    return data[:end], data[end:]


def _utc_stamp(seconds: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


def _stamp_seconds(stamp: str) -> int | None:
    """``20240422T142046Z`` → epoch seconds, without calendar/datetime."""
    if len(stamp) != 16 or stamp[8] != "T" or stamp[15] != "Z":
        return None
    try:
        year, month, day = int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8])
        hour, minute, second = int(stamp[9:11]), int(stamp[11:13]), int(stamp[13:15])
    except ValueError:
        return None
    return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second


class Segment:
    """One segment file. ``name`` is its unique stem (no suffix), used in object names."""

    __slots__ = ("created", "name", "path", "sealed", "sequence", "size")

    def __init__(self, path: str, name: str, size: int, sealed: bool) -> None:
        self.path = path
        self.name = name
        self.size = size
        self.sealed = sealed
        parts = name.rsplit("-", 2)
        self.created = _stamp_seconds(parts[1]) if len(parts) == 3 else None
        self.sequence = int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else None

    def sort_key(self) -> tuple:
        return (self.created or 0, self.name.rsplit("-", 1)[-1], self.name)

    def __repr__(self) -> str:
        return f"Segment({self.name!r}, size={self.size}, sealed={self.sealed})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Segment) and (self.path, self.size, self.sealed) == (
            other.path,
            other.size,
            other.sealed,
        )

    __hash__ = None


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _describe(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the device (disk or quota full)"
    if exc.errno == errno.EFBIG:
        return "file size limit exceeded"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)


class ExclusiveLock:
    """A non-blocking ``flock`` on ``path`` held for a ``with`` block: one holder at a time.

    ``what`` names the lock in the SpoolError raised when the file cannot be opened; ``busy``
    is the SpoolBusyError message raised at once when another process holds it. Used for the
    single-flusher lock and for every other one-at-a-time job on a spool.
    """

    __slots__ = ("_busy", "_fd", "_path", "_what")

    def __init__(self, path: str, *, what: str, busy: str) -> None:
        self._path = path
        self._what = what
        self._busy = busy
        self._fd = -1

    def __enter__(self) -> ExclusiveLock:
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
        except OSError as exc:
            raise SpoolError(f"cannot open {self._what} {self._path}: {_describe(exc)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise SpoolBusyError(self._busy) from None
        self._fd = fd
        return self

    def __exit__(self, *exc_info) -> None:
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = -1

    def fileno(self) -> int:
        """The locked descriptor (-1 outside the ``with`` block), e.g. for child processes to close."""
        return self._fd


class Spool:
    """The spool directory of one manager node. Cheap to build; touches no file until used."""

    __slots__ = (
        "archive_dir",
        "archive_retention",
        "directory",
        "fsync",
        "lock_timeout",
        "node",
        "segment_max_age",
        "segment_max_bytes",
        "segments_dir",
        "spool_full_policy",
        "spool_max_bytes",
        "state_dir",
    )

    def __init__(self, settings, *, create: bool = False) -> None:
        """Use ``settings.spool_dir`` and the spool settings; ``create`` makes the directory."""
        self.directory = settings.spool_dir
        self.node = node_token(settings.node_name)
        self.segments_dir = os.path.join(self.directory, SEGMENTS)
        self.state_dir = os.path.join(self.directory, STATE)
        self.segment_max_bytes = settings.segment_max_bytes
        self.segment_max_age = settings.segment_max_age
        self.spool_max_bytes = settings.spool_max_bytes
        self.spool_full_policy = settings.spool_full_policy
        self.fsync = settings.fsync
        self.lock_timeout = settings.lock_timeout
        self.archive_dir = settings.archive_dir
        self.archive_retention = settings.archive_retention
        if create:
            try:
                os.makedirs(self.directory, _DIR_MODE, exist_ok=True)
            except OSError as exc:
                raise SpoolError(f"cannot create the spool directory {self.directory}: {_describe(exc)}") from None

    # -- locking -----------------------------------------------------------------------------

    def _missing(self) -> SpoolError:
        return SpoolError(
            f"spool directory {self.directory} does not exist: run the installer or create it "
            "(owned by the user wazuh-integratord runs as), or set WAZUH_OCSF_SPOOL_DIR"
        )

    def _open_lock(self, name: str = LOCK_FILE) -> int:
        path = os.path.join(self.directory, name)
        try:
            # Read-only is enough for flock, so a lock file created by another user still works.
            return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
        except FileNotFoundError:
            raise self._missing() from None
        except OSError as exc:
            raise SpoolError(f"cannot open the spool lock {path}: {_describe(exc)}") from None

    def _lock(self, timeout: float, name: str = LOCK_FILE) -> int | None:
        """Take the spool lock (or ``name``), waiting at most ``timeout`` seconds; the fd, or None if busy."""
        fd = self._open_lock(name)
        deadline = None
        delay = 0.0005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                pass
            except OSError as exc:
                os.close(fd)
                raise SpoolError(f"cannot lock {self.directory}/{name}: {_describe(exc)}") from None
            now = time.monotonic()
            if deadline is None:
                deadline = now + timeout
            if now >= deadline:
                os.close(fd)
                return None
            time.sleep(min(delay, deadline - now))
            delay = min(delay * 2, 0.02)

    def flush_lock(self) -> ExclusiveLock:
        """Context manager held by the one flusher; raises SpoolBusyError at once if taken."""
        if not os.path.isdir(self.directory):
            raise self._missing()
        path = os.path.join(self.directory, FLUSH_LOCK_FILE)
        return ExclusiveLock(
            path,
            what="the flush lock",
            busy=f"another flusher holds {path}: only one flusher may work on a spool at a time",
        )

    # -- reading the directory ----------------------------------------------------------------

    def _scan(self) -> tuple[Segment | None, list]:
        """The active segment (or None) and the sealed segments, oldest first."""
        active, sealed, extra_active = None, [], []
        try:
            entries = os.scandir(self.segments_dir)
        except FileNotFoundError:
            if not os.path.isdir(self.directory):
                raise self._missing() from None
            return None, []
        except OSError as exc:
            raise SpoolError(f"cannot list {self.segments_dir}: {_describe(exc)}") from None
        with entries:
            for entry in entries:
                name = entry.name
                if name.endswith(SEALED_SUFFIX) and not name.startswith("."):
                    is_sealed, stem = True, name[: -len(SEALED_SUFFIX)]
                elif name.endswith(ACTIVE_SUFFIX) and not name.startswith("."):
                    is_sealed, stem = False, name[: -len(ACTIVE_SUFFIX)]
                else:
                    continue
                try:
                    size = entry.stat().st_size
                except FileNotFoundError:  # released or sealed while we looked
                    continue
                segment = Segment(entry.path, stem, size, is_sealed)
                if is_sealed:
                    sealed.append(segment)
                elif active is None or segment.sort_key() > active.sort_key():
                    if active is not None:
                        extra_active.append(active)
                    active = segment
                else:
                    extra_active.append(segment)
        # More than one active segment cannot come from this code; if someone copied one in,
        # treat the older ones as sealed candidates so their lines are not stranded.
        for segment in extra_active:
            sealed.append(segment)
        sealed.sort(key=Segment.sort_key)
        return active, sealed

    def sealed_segments(self) -> list:
        """Sealed segments, oldest first. Needs no lock: a sealed segment never changes."""
        return [segment for segment in self._scan()[1] if segment.sealed]

    def active_segment(self) -> Segment | None:
        """The segment hooks currently append to, if any."""
        return self._scan()[0]

    # -- writing ------------------------------------------------------------------------------

    def append(self, line: bytes) -> str:
        """Append one spool line (``\\n``-terminated) to the active segment; the file written.

        Rotates by size and age, enforces the size cap and the fsync policy. Raises
        SpoolFullError at the cap under the ``refuse`` policy, SpoolError when the spool cannot
        be written. If the lock is busy for longer than ``lock_timeout``, the line goes to a
        sealed segment of its own instead of waiting.
        """
        if not line.endswith(b"\n") or b"\n" in line[:-1]:
            raise ValueError("a spool line is exactly one line ending with a newline")
        try:
            return self._append(line)
        except SpoolError:
            raise
        except OSError as exc:  # any other disk error: the callers (the hook) catch SpoolError
            raise SpoolError(f"cannot append to the spool {self.directory}: {_describe(exc)}") from None

    def _append(self, line: bytes) -> str:
        lock = self._lock(self.lock_timeout)
        if lock is None:
            return self._append_own_segment(line)
        try:
            sealed_bytes, active = self._usage()
            if sealed_bytes + (active.size if active else 0) + len(line) > self.spool_max_bytes:
                sealed_bytes, active = self._make_room(sealed_bytes + (active.size if active else 0), len(line))
            if active is not None and self._should_rotate(active, len(line)):
                self._forget_usage()  # written again once the next segment exists
                sealed_bytes += self._seal(active).size
                active = None
            return self._write_line(active, line, sealed_bytes)
        finally:
            os.close(lock)

    def append_many(self, lines: list, *, timeout: float = 30.0) -> list:
        """Append many spool lines in order under ONE lock acquisition; the segment files written.

        For long-running writers that batch (``follow``, ``backfill``): one lock and one
        ``os.write`` per segment touched, instead of per line. The active segment
        rotates by size and age as with :meth:`append`. The size cap is checked for the whole
        batch first, so under ``refuse`` nothing is written and SpoolFullError is raised. Waits up
        to ``timeout`` seconds for the lock (these writers can wait; the hook cannot), then
        raises SpoolBusyError. ``fsync=append`` forces each segment written once per batch. A
        SpoolError from the disk may leave a prefix of the batch written, in whole lines.
        """
        for line in lines:
            if not line.endswith(b"\n") or b"\n" in line[:-1]:
                raise ValueError("a spool line is exactly one line ending with a newline")
        if not lines:
            return []
        try:
            return self._append_many(lines, timeout)
        except SpoolError:
            raise
        except OSError as exc:  # any other disk error: the callers catch SpoolError
            raise SpoolError(f"cannot append to the spool {self.directory}: {_describe(exc)}") from None

    def _append_many(self, lines: list, timeout: float) -> list:
        lock = self._lock(timeout)
        if lock is None:
            raise SpoolBusyError(f"the spool lock {self.directory}/{LOCK_FILE} stayed busy for {timeout:g} s")
        try:
            sealed_bytes, active = self._usage()
            incoming = sum(len(line) for line in lines)
            if sealed_bytes + (active.size if active else 0) + incoming > self.spool_max_bytes:
                sealed_bytes, active = self._make_room(sealed_bytes + (active.size if active else 0), incoming)
            written = []
            index = 0
            while index < len(lines):
                if active is not None and self._should_rotate(active, len(lines[index])):
                    self._forget_usage()
                    sealed_bytes += self._seal(active).size
                    active = None
                room = self.segment_max_bytes - (active.size if active else 0)
                stop, size = index + 1, len(lines[index])
                while stop < len(lines) and size + len(lines[stop]) <= room:
                    size += len(lines[stop])
                    stop += 1
                path = self._write_line(active, b"".join(lines[index:stop]), sealed_bytes)
                if not written or written[-1] != path:
                    written.append(path)
                stem = os.path.basename(path)[: -len(ACTIVE_SUFFIX)]
                active = Segment(path, stem, os.stat(path).st_size, False)
                index = stop
            return written
        finally:
            os.close(lock)

    def _should_rotate(self, active: Segment, incoming: int) -> bool:
        if active.size and active.size + incoming > self.segment_max_bytes:
            return True
        age = self.segment_max_age
        return bool(age) and active.created is not None and time.time() - active.created >= age

    def _write_line(self, active: Segment | None, line: bytes, sealed_bytes: int) -> str:
        if active is None:
            fd, path = self._create_segment(sealed_bytes)
            size = 0
        else:
            path, size = active.path, active.size
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
            except OSError as exc:
                raise SpoolError(f"cannot open spool segment {path}: {_describe(exc)}") from None
        try:
            data = line
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + line  # end a killed writer's torn line so it stays one bad line
            try:
                written = os.write(fd, data)
            except OSError as exc:
                self._truncate(fd, size)
                raise SpoolError(f"cannot append to spool segment {path}: {_describe(exc)}") from None
            if written != len(data):
                self._truncate(fd, size)
                raise SpoolError(
                    f"cannot append to spool segment {path}: short write ({written} of {len(data)} bytes), "
                    "the disk is probably full"
                )
            if self.fsync == "append":
                os.fdatasync(fd)
        finally:
            os.close(fd)
        return path

    @staticmethod
    def _truncate(fd: int, size: int) -> None:
        try:  # noqa: SIM105 -- contextlib is an import the hook need not pay for
            os.ftruncate(fd, size)
        except OSError:
            pass  # best effort: the partial line is still caught by readers as a torn line

    def _create_segment(self, sealed_bytes: int) -> tuple[int, str]:
        """Create the next active segment (under the lock) and record it in the usage; its fd and path."""
        self._ensure_dir(self.segments_dir)
        self._forget_usage()
        sequence = self._next_sequence()
        stem = f"{self.node}-{_utc_stamp(time.time())}-{sequence:010d}"
        path = os.path.join(self.segments_dir, stem + ACTIVE_SUFFIX)
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, _FILE_MODE)
        except OSError as exc:
            raise SpoolError(f"cannot create spool segment {path}: {_describe(exc)}") from None
        try:
            if self.fsync == "append":
                _fsync_dir(self.segments_dir)
            self._write_usage(sealed_bytes, stem)
        except BaseException:
            os.close(fd)
            raise
        return fd, path

    def _ensure_dir(self, path: str) -> None:
        try:
            os.mkdir(path, _DIR_MODE)
        except FileExistsError:
            pass
        except FileNotFoundError:
            raise self._missing() from None
        except OSError as exc:
            raise SpoolError(f"cannot create {path}: {_describe(exc)}") from None

    def _next_sequence(self) -> int:
        """The next sequence number, persisted before use so no stem is ever reused."""
        path = os.path.join(self.state_dir, "sequence")
        try:
            with open(path, "rb") as handle:
                sequence = int(handle.read().strip())
        except (FileNotFoundError, ValueError):
            # A lost or damaged state file: the names on disk say which numbers were used.
            active, sealed = self._scan()
            known = sealed + ([active] if active else [])
            sequence = max((s.sequence for s in known if s.sequence is not None), default=-1) + 1
        except OSError as exc:
            raise SpoolError(f"cannot read {path}: {_describe(exc)}") from None
        self._write_state(path, b"%d\n" % (sequence + 1))
        return sequence

    def _write_state(self, path: str, data: bytes, *, sync: bool = True) -> None:
        self._ensure_dir(self.state_dir)
        # An unpredictable name, never an existing file or a symlink planted in its place.
        temp = f"{path}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, _FILE_MODE)
            try:
                os.write(fd, data)
                if sync and self.fsync != "never":
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, path)
        except OSError as exc:
            try:  # noqa: SIM105
                os.unlink(temp)
            except OSError:
                pass
            raise SpoolError(f"cannot write {path}: {_describe(exc)}") from None

    # -- the usage: what an append needs, without listing the segments -------------------------

    def _read_usage(self) -> tuple | None:
        """``(bytes of sealed segments, active stem or None)`` from ``state/usage``; None if absent."""
        path = os.path.join(self.state_dir, USAGE_FILE)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SpoolError(f"cannot read {path}: {_describe(exc)}") from None
        try:
            parts = os.read(fd, 4096).split()
        finally:
            os.close(fd)
        if len(parts) != 2 or not parts[0].isdigit():
            return None  # damaged: rebuilt like a missing one
        stem = parts[1].decode("utf-8", "replace")
        return int(parts[0]), (None if stem == "-" else stem)

    def _write_usage(self, sealed_bytes: int, active: str | None) -> None:
        data = b"%d %s\n" % (max(0, sealed_bytes), (active or "-").encode())
        self._write_state(os.path.join(self.state_dir, USAGE_FILE), data, sync=False)

    def _forget_usage(self) -> None:
        """Remove the usage before a change of several steps: a crash in between makes the next
        lock holder rebuild it from the directory instead of trusting a half-updated count."""
        path = os.path.join(self.state_dir, USAGE_FILE)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise SpoolError(f"cannot update {path}: {_describe(exc)}") from None

    def _usage(self) -> tuple[int, Segment | None]:
        """``(bytes of sealed segments, the active segment or None)``, under the lock.

        One read of ``state/usage`` and one stat of the active segment; a directory scan only
        when the usage is missing (a crash mid-change, an upgrade) or names a segment that is
        gone (moved by hand, or a crash between its sealing and the usage update).
        """
        usage = self._read_usage()
        if usage is not None:
            sealed_bytes, stem = usage
            if stem is None:
                return self._fold_own(sealed_bytes, None)
            path = os.path.join(self.segments_dir, stem + ACTIVE_SUFFIX)
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                pass
            else:
                return self._fold_own(sealed_bytes, Segment(path, stem, size, False))
        sealed_bytes, active, _others = self._rebuild()
        return sealed_bytes, active

    def _rebuild(self) -> tuple:
        """Recount the usage from the directory (under the lock); ``(sealed bytes, active, others)``.

        ``others`` are the sealed segments and any stray older active ones, oldest first.
        """
        own_lock = self._own_lock()
        try:
            self._forget_usage()
            active, others = self._scan()
            sealed_bytes = sum(segment.size for segment in others)
            self._remove_own()  # the scan counted every segment written without the lock
            self._write_usage(sealed_bytes, active.name if active else None)
        finally:
            os.close(own_lock)
        return sealed_bytes, active, others

    def _own_lock(self) -> int:
        # Held for microseconds (or one fsync) by hooks that write a segment of their own.
        lock = self._lock(max(self.lock_timeout, 5.0), OWN_LOCK_FILE)
        if lock is None:
            raise SpoolBusyError(f"the lock {self.directory}/{OWN_LOCK_FILE} stayed busy")
        return lock

    def _remove_own(self) -> None:
        try:  # noqa: SIM105 -- contextlib is an import the hook need not pay for
            os.unlink(os.path.join(self.state_dir, OWN_FILE))
        except FileNotFoundError:
            pass

    def _own_records(self) -> list:
        """``(bytes, segment file name)`` of each segment written without the lock since the last fold."""
        try:
            with open(os.path.join(self.state_dir, OWN_FILE), "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return []
        records = []
        for raw in data.split(b"\n")[:-1]:  # a torn last record belongs to a writer that died
            size, _, name = raw.partition(b" ")
            if size.isdigit() and name:
                records.append((int(size), name.decode("utf-8", "replace")))
        return records

    def _fold_own(self, sealed_bytes: int, active: Segment | None) -> tuple[int, Segment | None]:
        """Add the segments hooks wrote without the lock to the usage (rare: one stat when none)."""
        try:
            os.stat(os.path.join(self.state_dir, OWN_FILE))
        except FileNotFoundError:
            return sealed_bytes, active
        own_lock = self._own_lock()
        try:
            self._forget_usage()
            for size, name in self._own_records():
                # Recorded before its rename: a writer killed in between left no segment to count.
                if os.path.exists(os.path.join(self.segments_dir, name)):
                    sealed_bytes += size
            self._remove_own()
            self._write_usage(sealed_bytes, active.name if active else None)
        finally:
            os.close(own_lock)
        return sealed_bytes, active

    def _seal(self, segment: Segment) -> Segment:
        """Rename an active segment to its sealed name (caller holds the lock)."""
        sealed_path = segment.path[: -len(ACTIVE_SUFFIX)] + SEALED_SUFFIX
        try:
            if self.fsync != "never":
                fd = os.open(segment.path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            os.rename(segment.path, sealed_path)
            if self.fsync != "never":
                _fsync_dir(self.segments_dir)
        except OSError as exc:
            raise SpoolError(f"cannot seal spool segment {segment.path}: {_describe(exc)}") from None
        return Segment(sealed_path, segment.name, segment.size, True)

    def seal_active(self, *, timeout: float = 30.0) -> Segment | None:
        """Seal the active segment now if it holds data; the sealed segment, or None.

        Waits up to ``timeout`` seconds for the spool lock (hooks hold it for microseconds)
        and raises SpoolBusyError if it is still held.
        """
        lock = self._lock(timeout)
        if lock is None:
            raise SpoolBusyError(f"the spool lock {self.directory}/{LOCK_FILE} stayed busy for {timeout:g} s")
        try:
            # The flusher lists the directory anyway: recount the usage from it, which also
            # corrects it after a power loss or segments deleted by hand.
            sealed_bytes, active, others = self._rebuild()
            # Stray older active segments (copied in by hand) are sealed along with it.
            for stray in others:
                if not stray.sealed and stray.size:
                    self._seal(stray)
            if active is None or active.size == 0:
                return None
            self._forget_usage()
            sealed = self._seal(active)
            self._write_usage(sealed_bytes + sealed.size, None)
            return sealed
        finally:
            os.close(lock)

    def _append_own_segment(self, line: bytes) -> str:
        """Lock busy: write the line as a sealed segment of its own (temp file, then rename).

        Under the small own-segment lock, which the next holder of the spool lock also takes
        to fold ``state/own`` into the usage.
        """
        own_lock = self._own_lock()
        try:
            return self._write_own_segment(line)
        finally:
            os.close(own_lock)

    def _unlocked_total(self) -> int:
        """The spool's bytes as the last usage says, plus what ``state/own`` adds; a scan without usage."""
        usage = self._read_usage()
        if usage is None:
            active, sealed = self._scan()
            return sum(s.size for s in sealed) + (active.size if active else 0)
        total, stem = usage
        if stem is not None:
            try:  # noqa: SIM105
                total += os.stat(os.path.join(self.segments_dir, stem + ACTIVE_SUFFIX)).st_size
            except FileNotFoundError:
                pass
        return total + sum(size for size, _name in self._own_records())

    def _write_own_segment(self, line: bytes) -> str:
        total = self._unlocked_total()
        if total + len(line) > self.spool_max_bytes and self.spool_full_policy == "refuse":
            # Without the lock nothing may be deleted, so drop-oldest goes one line over the cap.
            self._refuse(total, len(line))
        self._ensure_dir(self.segments_dir)
        stem = f"{self.node}-{_utc_stamp(time.time())}-p{os.getpid()}x{os.urandom(4).hex()}"
        temp = os.path.join(self.segments_dir, TEMP_PREFIX + stem)
        final = os.path.join(self.segments_dir, stem + SEALED_SUFFIX)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
        except OSError as exc:
            raise SpoolError(f"cannot create spool segment {temp}: {_describe(exc)}") from None
        try:
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(errno.ENOSPC, f"short write ({written} of {len(line)} bytes)")
                if self.fsync != "never":
                    os.fsync(fd)
            finally:
                os.close(fd)
            self._record_own(len(line), os.path.basename(final))
            os.rename(temp, final)
            if self.fsync != "never":
                _fsync_dir(self.segments_dir)
        except OSError as exc:
            try:  # noqa: SIM105
                os.unlink(temp)
            except OSError:
                pass
            raise SpoolError(f"cannot write spool segment {final}: {_describe(exc)}") from None
        return final

    def _record_own(self, size: int, name: str) -> None:
        """Note a segment written without the lock in ``state/own`` (one O_APPEND write)."""
        self._ensure_dir(self.state_dir)
        path = os.path.join(self.state_dir, OWN_FILE)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, _FILE_MODE)
        try:
            os.write(fd, b"%d %s\n" % (size, name.encode()))
        finally:
            os.close(fd)

    # -- the size cap ---------------------------------------------------------------------------

    def _refuse(self, total: int, incoming: int):
        self._count_refused()
        raise SpoolFullError(
            f"spool {self.directory} is full: {total} bytes of unsent events, cap "
            f"WAZUH_OCSF_SPOOL_MAX_BYTES={self.spool_max_bytes}; the event was refused. Check that the "
            "flusher runs and delivers, or raise the cap (or choose WAZUH_OCSF_SPOOL_FULL_POLICY=drop-oldest)"
        )

    def _count_refused(self) -> None:
        # One byte per refused event, appended without the lock: exact, crash-safe, lock-free.
        try:
            self._ensure_dir(self.state_dir)
            fd = os.open(
                os.path.join(self.state_dir, "refused"),
                os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                _FILE_MODE,
            )
            try:
                os.write(fd, b"r")
            finally:
                os.close(fd)
        except OSError:  # SpoolError included
            pass  # the count is informative; failing to count must not hide the refusal

    def _make_room(self, total: int, incoming: int) -> tuple[int, Segment | None]:
        """At the cap: refuse, or delete oldest segments (``drop-oldest``); ``(sealed bytes, active)`` left.

        Dropping needs the oldest segments, so only here, at the cap under ``drop-oldest``, does
        an append list the directory (once per dropped batch: a whole segment's room is freed).
        """
        if self.spool_full_policy != "drop-oldest" or incoming > self.spool_max_bytes:
            self._refuse(total, incoming)
        sealed_bytes, active, victims = self._rebuild()
        total = sealed_bytes + (active.size if active else 0)
        self._forget_usage()
        victims = list(victims)
        while total + incoming > self.spool_max_bytes:
            if victims:
                victim = victims.pop(0)
            elif active is not None:
                victim, active = self._seal(active), None
            else:
                break
            self._drop(victim)
            total -= victim.size
        sealed_bytes = total - (active.size if active else 0)
        self._write_usage(sealed_bytes, active.name if active else None)
        return sealed_bytes, active

    def _drop(self, segment: Segment) -> None:
        try:
            events = count_lines(segment.path)
            os.unlink(segment.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise SpoolError(f"cannot drop spool segment {segment.path}: {_describe(exc)}") from None
        record = f'{{"time":{int(time.time())},"segment":"{segment.name}","bytes":{segment.size},"events":{events}}}\n'
        self._ensure_dir(self.state_dir)
        fd = os.open(
            os.path.join(self.state_dir, "dropped"), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE
        )
        try:
            os.write(fd, record.encode())
        finally:
            os.close(fd)

    # -- the flusher's side ----------------------------------------------------------------------

    def release(self, segment: Segment) -> None:
        """Remove a delivered sealed segment, or move it to ``archive_dir`` (pruned by retention)."""
        if not segment.sealed:
            raise SpoolError(f"refusing to release {segment.path}: it is not sealed")
        lock = self._lock(30.0)  # hooks hold it for microseconds
        if lock is None:
            raise SpoolBusyError(f"the spool lock {self.directory}/{LOCK_FILE} stayed busy for 30 s")
        try:
            sealed_bytes, active = self._usage()
            try:
                size = os.stat(segment.path).st_size
            except FileNotFoundError:
                return  # already gone (drop-oldest deleted it while it was delivered)
            self._forget_usage()
            self._remove(segment)
            self._write_usage(sealed_bytes - size, active.name if active else None)
        finally:
            os.close(lock)

    def _remove(self, segment: Segment) -> None:
        try:
            if self.archive_dir:
                os.makedirs(self.archive_dir, _DIR_MODE, exist_ok=True)
                target = os.path.join(self.archive_dir, os.path.basename(segment.path))
                try:
                    os.replace(segment.path, target)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    import shutil  # another file system: copy, then delete (flusher side only)

                    shutil.copy2(segment.path, target + ".tmp")
                    os.replace(target + ".tmp", target)
                    os.unlink(segment.path)
                self._prune_archive()
            else:
                os.unlink(segment.path)
        except FileNotFoundError:
            pass  # already gone (drop-oldest deleted it while it was delivered)
        except OSError as exc:
            raise SpoolError(f"cannot release spool segment {segment.path}: {_describe(exc)}") from None

    def _prune_archive(self) -> None:
        limit = time.time() - self.archive_retention
        with os.scandir(self.archive_dir) as entries:
            for entry in entries:
                if entry.name.endswith(SEALED_SUFFIX) and entry.stat().st_mtime < limit:
                    try:  # noqa: SIM105
                        os.unlink(entry.path)
                    except FileNotFoundError:
                        pass

    # -- status ---------------------------------------------------------------------------------

    def stats(self, *, count_events: bool = True) -> dict:
        """Figures for ``status``: segments, bytes, events, oldest data, cap counters, dead letters.

        ``events`` counts lines (exact; reads every segment) unless ``count_events`` is false.
        """
        from wazuh_ocsf.spool import dead_letter

        active, sealed = self._scan()
        segments = sealed + ([active] if active else [])
        events = None
        if count_events:
            events = 0
            for segment in segments:
                events += count_lines(segment.path)
        created = [s.created for s in segments if s.created is not None]
        dropped_segments = dropped_events = 0
        try:
            with open(os.path.join(self.state_dir, "dropped"), "rb") as handle:
                for raw in handle:
                    dropped_segments += 1
                    marker = raw.rfind(b'"events":')
                    if marker >= 0:
                        dropped_events += int(raw[marker + 9 :].strip(b"}\n ") or 0)
        except FileNotFoundError:
            pass
        try:
            refused = os.stat(os.path.join(self.state_dir, "refused")).st_size
        except FileNotFoundError:
            refused = 0
        return {
            "directory": self.directory,
            "node": self.node,
            "sealed_segments": len(sealed),
            "active_segment": active.name if active else None,
            "bytes": sum(s.size for s in segments),
            "cap_bytes": self.spool_max_bytes,
            "full_policy": self.spool_full_policy,
            "events": events,
            "oldest_segment_time": min(created) if created else None,
            "refused_events": refused,
            "dropped_segments": dropped_segments,
            "dropped_events": dropped_events,
            "dead_letter_records": dead_letter.count(self.directory),
        }


def count_lines(path: str) -> int:
    """How many ``\n`` ``path`` holds, read in 1 MiB chunks; 0 if it does not exist."""
    count = 0
    try:
        with open(path, "rb") as handle:
            while True:
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                count += chunk.count(b"\n")
    except FileNotFoundError:
        pass
    return count
