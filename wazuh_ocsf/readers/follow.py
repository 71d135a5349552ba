"""Follow ``alerts.json``: map and spool every new alert, across rotations and restarts.

For managers that fire more alerts than a per-alert hook can take, this long-running
process replaces the ``ossec.conf`` ``<integration>`` block (systemd service
``wazuh-ocsf-follow``). It applies the same mapping settings as the hook and the same
``<level>``/``<group>``/``<rule_id>`` filters as integratord (``WAZUH_OCSF_FOLLOW_*``).

Position. ``<spool>/state/follow.json`` holds the followed file's device, inode, archive
label and the offset after the last alert spooled. Each batch is written as: state with
``pending_end`` (the batch's end) → spool append → state with the new offset. After a crash
between the two writes, the restart maps ``[offset, pending_end)`` again and appends only
the alerts whose finding uids are neither in the spool nor in the delivered index, so
nothing is lost or repeated. A clean stop (SIGTERM, SIGINT) finishes the batches in flight.

Rotation. At midnight (or at a size limit) wazuh-analysisd closes the day's file, creates
the next one and re-points the hard link ``alerts.json`` at it. The follower keeps its
descriptor on the old file: when ``alerts.json`` names another inode and the old file has
nothing more to read, it finishes the old file (a torn last line goes to the dead-letter
directory) and starts the new one at 0. A file that shrank was truncated: it restarts at 0.
After a restart, if the followed file was rotated meanwhile, it finishes that file from its
archive (plain or gzipped, found by inode or label) and reads every archive after it before
taking up ``alerts.json`` again. Without any state the first start begins at the end of
``alerts.json`` (like integratord); ``wazuh-ocsf backfill`` covers what came before.

Durability. The state is replaced after every batch (a killed process loses nothing);
every ``sync_interval`` seconds, and on exit, the spool segments written and then the state
are forced to disk, unless ``WAZUH_OCSF_FSYNC=never`` (``append``: after every batch). After a
power loss the state can be up to ``sync_interval`` behind, so alerts are repeated rather
than lost — unless the spool's own unsynced lines were lost too (the ``rotate`` policy's
documented window).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from datetime import datetime, timezone

from wazuh_ocsf.config import Settings
from wazuh_ocsf.durable import fsync_path, write_json_atomic
from wazuh_ocsf.errors import SpoolError
from wazuh_ocsf.readers.alerts import LIVE_NAME, AlertsFile, archive_files, wazuh5_hint
from wazuh_ocsf.readers.pipeline import MapOptions, MappingPool, map_block
from wazuh_ocsf.spool import dead_letter
from wazuh_ocsf.spool.store import ExclusiveLock, Spool

log = logging.getLogger(__name__)

STATE = "follow.json"
HEARTBEAT = "follow-heartbeat.json"
LOCK = "follow.lock"
HEARTBEAT_INTERVAL = 60.0  # seconds between two "still here" lines in the log and the state
READ_BYTES = 1024 * 1024  # one block per worker job: a few hundred alerts


class FollowStats:
    """Counters of one follow run."""

    __slots__ = ("bad_lines", "batches", "filtered", "read_bytes", "rotations", "spooled", "started", "truncations")

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.spooled = self.filtered = self.bad_lines = self.batches = 0
        self.rotations = self.truncations = self.read_bytes = 0

    def summary(self) -> str:
        """One line for the log."""
        seconds = time.monotonic() - self.started
        return (
            f"follow: {self.spooled} alerts spooled, {self.filtered} filtered out, {self.bad_lines} dead-lettered, "
            f"{self.rotations} rotations, {self.truncations} truncations in {seconds:.1f} s"
        )


class _Source:
    """The file being read: its descriptor, identity, label and position."""

    __slots__ = ("dev", "fd", "ino", "label", "live", "offset", "path")

    def __init__(self, fd: int, path: str, label: str | None, offset: int, *, live: bool, identity=None) -> None:
        self.fd, self.path, self.label, self.offset, self.live = fd, path, label, offset, live
        if identity is None:
            status = os.fstat(fd)
            identity = (status.st_dev, status.st_ino)
        self.dev, self.ino = identity

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Follower:
    """Tail ``<alerts_dir>/alerts.json`` into the spool until :meth:`stop` is called."""

    def __init__(
        self,
        settings: Settings,
        *,
        alerts_dir: str | None = None,
        workers: int | None = None,
        poll_interval: float = 0.2,
        sync_interval: float = 1.0,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
    ) -> None:
        from wazuh_ocsf.readers.alerts import alerts_dir_of

        self.settings = settings
        self.spool = Spool(settings)
        self.alerts_dir = alerts_dir or alerts_dir_of(settings.wazuh_home)
        self.live_path = os.path.join(self.alerts_dir, LIVE_NAME)
        self.options = MapOptions.from_settings(settings, with_filter=True)
        self.workers = workers or settings.follow_workers
        self.poll_interval = poll_interval
        self.sync_interval = sync_interval
        self.state_path = os.path.join(self.spool.state_dir, STATE)
        self.stats = FollowStats()
        self._stop = threading.Event()
        self._source: _Source | None = None
        self._unsynced: set = set()
        self._synced_at = time.monotonic()
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_path = os.path.join(self.spool.state_dir, HEARTBEAT)
        self._beat_at = time.monotonic()
        self._beat_spooled = 0
        self._started_at = time.time()

    # -- control --------------------------------------------------------------------------------

    def stop(self, *_args) -> None:
        """Ask the loop to finish its batches in flight and return (safe in a signal handler)."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the follower cleanly."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    # -- state ----------------------------------------------------------------------------------

    def read_state(self) -> dict | None:
        """The saved position, or None (a damaged state file is reported and ignored)."""
        try:
            with open(self.state_path, encoding="utf-8") as handle:
                state = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.error("ignoring the unreadable follow state %s: %s", self.state_path, exc)
            return None
        if not isinstance(state, dict) or not {"dev", "ino", "offset"} <= set(state):
            log.error("ignoring the follow state %s: not a follow state", self.state_path)
            return None
        return state

    def _write_state(self, source: _Source, offset: int, *, pending_end: int | None = None, sync: bool = False):
        state = {
            "dev": source.dev,
            "ino": source.ino,
            "label": source.label,
            "path": source.path,
            "offset": offset,
            "updated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if pending_end is not None:
            state["pending_end"] = pending_end
        try:
            write_json_atomic(self.state_path, state, fsync=sync)
        except OSError as exc:
            raise SpoolError(f"cannot write the follow state {self.state_path}: {exc.strerror or exc}") from None

    def _sync(self, *, force: bool = False) -> None:
        """Force the written segments, then the state, to disk (per the fsync policy)."""
        policy = self.settings.fsync
        if policy == "never" or self._source is None:
            return
        now = time.monotonic()
        if not force and policy != "append" and now - self._synced_at < self.sync_interval:
            return
        for path in self._unsynced:
            # Gone: sealed meanwhile (a rename, already forced by the sealer) or delivered.
            with contextlib.suppress(FileNotFoundError):
                fsync_path(path)
        self._unsynced.clear()
        self._write_state(self._source, self._source.offset, sync=True)
        self._synced_at = now

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> FollowStats:
        """Follow until stopped; the counters. Raises SpoolBusyError if another follower runs."""
        if not os.path.isdir(self.spool.directory):
            raise SpoolError(
                f"spool directory {self.spool.directory} does not exist: run the installer or create it, "
                "or set WAZUH_OCSF_SPOOL_DIR"
            )
        try:
            os.makedirs(self.spool.state_dir, 0o750, exist_ok=True)
        except OSError as exc:
            raise SpoolError(
                f"cannot create the follow state directory {self.spool.state_dir}: {exc.strerror or exc}"
            ) from None
        lock_path = os.path.join(self.spool.state_dir, LOCK)
        lock = ExclusiveLock(
            lock_path,
            what="the follow lock",
            busy=f"another follower is running on this spool (it holds {lock_path})",
        )
        # The workers close the lock descriptor: an orphaned worker must not keep the lock.
        with lock, MappingPool(self.options, self.workers, close_fds=(lock.fileno(),)) as pool:
            self._pool = pool
            try:
                self._heartbeat(force=True)
                self._start()
                self._loop()
            finally:
                self._drain()
                self._sync(force=True)
                self._heartbeat(force=True, stopped=True)
                if self._source is not None:
                    self._source.close()
        log.info("%s", self.stats.summary())
        return self.stats

    def _start(self) -> None:
        if self.options.alert_filter is not None:
            log.info("follow filters: %s", self.options.alert_filter.describe())
        state = self.read_state()
        live = self._open_live()
        if state is None:
            if live is None:
                log.warning("%s", wazuh5_hint(self.alerts_dir))
                return
            live.offset = _last_line_start(live.fd)
            log.info("no follow state: starting at the end of %s (offset %d)", self.live_path, live.offset)
            self._source = live
            self._write_state(live, live.offset, sync=True)
            return
        if state.get("pending_end") is not None:
            self._recover_pending(state)
        if live is not None and (live.dev, live.ino) == (state["dev"], state["ino"]):
            live.offset = int(state["offset"])
            size = os.fstat(live.fd).st_size
            if size < live.offset:
                log.warning("%s shrank to %d bytes below the saved offset %d: truncated, reading it from 0",
                            self.live_path, size, live.offset)
                self.stats.truncations += 1
                live.offset = 0
            log.info("resuming %s at offset %d", self.live_path, live.offset)
            self._source = live
            return
        self._catch_up(state, live)
        self._source = live
        if live is not None:
            self._write_state(live, 0, sync=True)

    def _open_live(self) -> _Source | None:
        try:
            fd = os.open(self.live_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SpoolError(f"cannot open {self.live_path}: {exc.strerror or exc}") from None
        status = os.fstat(fd)
        label, path = None, self.live_path
        for item in archive_files(self.alerts_dir):
            if item.live and (item.dev, item.ino) == (status.st_dev, status.st_ino):
                label, path = item.label, item.path
        return _Source(fd, path, label, 0, live=True)

    def _catch_up(self, state: dict, live: _Source | None) -> None:
        """The followed file was rotated while we were down: finish it and the archives after it."""
        files = archive_files(self.alerts_dir)
        start = None
        for index, item in enumerate(files):
            if (item.dev, item.ino) == (state["dev"], state["ino"]) or (
                state.get("label") and item.label == state["label"]
            ):
                start = index
                break
        if start is None:
            log.error(
                "the file followed before (%s, inode %s) is gone: alerts written to it after offset %s may be "
                "missing; run wazuh-ocsf backfill for that time",
                state.get("path"),
                state["ino"],
                state["offset"],
            )
            return
        for index in range(start, len(files)):
            item = files[index]
            if live is not None and (item.dev, item.ino) == (live.dev, live.ino):
                break
            offset = int(state["offset"]) if index == start else 0
            log.info("catching up: %s from offset %d", item.path, offset)
            self._read_archive(item, offset)
            self.stats.rotations += 1

    def _read_archive(self, item: AlertsFile, offset: int) -> None:
        """Spool a finished file (plain or gzipped) from ``offset`` to its end."""
        try:
            handle = item.open()
        except OSError as exc:
            log.error("cannot read %s: %s; run wazuh-ocsf backfill for its day", item.path, exc)
            return
        # Read through ``handle`` (it may be gzip); the source only carries identity and offset.
        source = _Source(-1, item.path, item.label, offset, live=False, identity=(item.dev, item.ino))
        try:
            handle.seek(offset)
            tail = b""
            while True:
                try:
                    chunk = handle.read(READ_BYTES)
                except (OSError, EOFError) as exc:
                    log.error("%s is damaged after %d bytes: %s", item.path, source.offset + len(tail), exc)
                    break
                if not chunk:
                    break
                data = tail + chunk
                end = data.rfind(b"\n") + 1
                tail = data[end:]
                if end:
                    self._submit(source, data[:end])
            self._drain()
            if tail:
                self._submit(source, tail + b"\n", torn=True)
                self._drain()
        finally:
            handle.close()
            source.close()

    def _recover_pending(self, state: dict) -> None:
        """A crash between spool append and state write: append what is not yet there."""
        from wazuh_ocsf.readers.backfill import _DeliveredDays, spooled_uids

        start, end = int(state["offset"]), int(state["pending_end"])
        files = archive_files(self.alerts_dir)
        item = next(
            (f for f in files if (f.dev, f.ino) == (state["dev"], state["ino"]) or f.label == state.get("label")),
            None,
        )
        if item is None and os.path.exists(self.live_path) and os.stat(self.live_path).st_ino == state["ino"]:
            item = AlertsFile(self.live_path, year=0, month=0, day=0, counter=0, compressed=False, label=LIVE_NAME)
        if item is None:
            log.error("cannot check the batch in flight at the last stop: %s is gone", state.get("path"))
            return
        try:
            with item.open() as handle:
                handle.seek(start)
                blob = handle.read(end - start)
        except OSError as exc:
            raise SpoolError(
                f"cannot read {item.path} to recover the batch in flight at the last stop: {exc.strerror or exc}"
            ) from None
        block = map_block(blob, self.options, base_offset=start)
        times = [int(uid.rsplit(":", 1)[-1]) for uid in block.uids if uid and uid.rsplit(":", 1)[-1].isdigit()]
        known = spooled_uids(self.spool, since_ms=min(times), until_ms=max(times) + 1) if times else set()
        delivered = _DeliveredDays(self.spool.directory)
        missing = []
        for index, uid in enumerate(block.uids):
            if uid in known or delivered.mask([uid], block.days[index])[0]:
                continue
            missing.append(block.lines[index])
        if missing:
            self.spool.append_many(missing)
        self.stats.spooled += len(missing)
        log.warning(
            "recovered the batch in flight at the last stop (%s bytes %d..%d): %d of %d alerts were not spooled yet",
            item.path,
            start,
            end,
            len(missing),
            len(block.lines),
        )
        # The offset moves past the batch, in whichever file it was.
        state["offset"] = end
        state.pop("pending_end", None)
        try:
            write_json_atomic(self.state_path, state)
        except OSError as exc:
            raise SpoolError(f"cannot write the follow state {self.state_path}: {exc.strerror or exc}") from None

    def _loop(self) -> None:
        tail = b""
        while not self._stop.is_set():
            self._heartbeat()
            source = self._source
            if source is None:
                source = self._source = self._open_live()
                if source is None:
                    self._stop.wait(self.poll_interval)
                    continue
                self._write_state(source, 0)
            chunk = os.pread(source.fd, READ_BYTES, source.offset + self._queued_bytes + len(tail))
            if chunk:
                self.stats.read_bytes += len(chunk)
                data = tail + chunk
                end = data.rfind(b"\n") + 1
                tail = data[end:]
                if end:
                    self._submit(source, data[:end])
                while self._pool.full:
                    self._commit_next()
                continue
            self._drain()
            tail = self._check_rotation(source, tail)
            self._sync()
            if self._source is source and not self._stop.is_set():
                self._stop.wait(self.poll_interval)

    def _heartbeat(self, *, force: bool = False, stopped: bool = False) -> None:
        """Every ``heartbeat_interval``: one INFO line, and ``state/follow-heartbeat.json`` for ``status``.

        A heartbeat that cannot be written is logged, never fatal: it is a report, not the position.
        """
        now = time.monotonic()
        if not force and now - self._beat_at < self.heartbeat_interval:
            return
        source = self._source
        where = f"{source.path} at offset {source.offset}" if source is not None else f"waiting for {self.live_path}"
        recent = self.stats.spooled - self._beat_spooled
        self._beat_at, self._beat_spooled = now, self.stats.spooled
        beat = {
            "time": time.time(),
            "pid": os.getpid(),
            "started": self._started_at,
            "interval": self.heartbeat_interval,
            "stopped": stopped,
            "reading": source.path if source is not None else None,
            "offset": source.offset if source is not None else None,
            "spooled": self.stats.spooled,
            "filtered": self.stats.filtered,
            "dead_lettered": self.stats.bad_lines,
            "rotations": self.stats.rotations,
        }
        if not force or stopped:
            log.info(
                "follow: %s %s; %d alerts spooled (%d since the last heartbeat), %d filtered out, %d dead-lettered",
                "stopped," if stopped else "alive, reading",
                where,
                self.stats.spooled,
                recent,
                self.stats.filtered,
                self.stats.bad_lines,
            )
        try:
            write_json_atomic(self.heartbeat_path, beat)
        except OSError as exc:
            log.warning("cannot write the follow heartbeat %s: %s", self.heartbeat_path, exc.strerror or exc)

    @property
    def _queued_bytes(self) -> int:
        return sum(meta[1] for _handle, meta in self._pool.pending)

    def _check_rotation(self, source: _Source, tail: bytes) -> bytes:
        """At the end of the file: rotated (new inode) or truncated (shrank)? The new tail."""
        try:
            status = os.stat(self.live_path)
        except FileNotFoundError:
            return tail  # between unlink and link: look again next time
        size = os.fstat(source.fd).st_size
        if (status.st_dev, status.st_ino) != (source.dev, source.ino):
            # One more read: the manager may have written its last lines after our read.
            if size > source.offset + len(tail):
                return tail
            if tail:
                self._submit(source, tail + b"\n", torn=True)
                self._drain()
            log.info("%s was rotated: finished %s at offset %d", self.live_path, source.path, source.offset)
            source.close()
            self.stats.rotations += 1
            new = self._open_live()
            self._source = new
            if new is not None:
                self._write_state(new, 0, sync=self.settings.fsync != "never")
            return b""
        if size < source.offset + len(tail):
            log.warning("%s was truncated to %d bytes (offset %d): reading it from 0", self.live_path, size,
                        source.offset)
            self.stats.truncations += 1
            source.offset = 0
            self._write_state(source, 0)
            return b""
        return tail

    # -- batches --------------------------------------------------------------------------------

    def _submit(self, source: _Source, blob: bytes, *, torn: bool = False) -> None:
        base = source.offset + self._queued_bytes
        self._pool.submit(blob, (source, len(blob) - (1 if torn else 0), torn), base_offset=base, joined=True)

    def _drain(self) -> None:
        while self._pool.pending:
            self._commit_next()

    def _commit_next(self) -> None:
        block, (source, length, torn) = self._pool.next_result()
        node = self.settings.node_name
        for offset, reason, data in block.bad:
            if torn:
                reason = f"torn last line (the file ended without a newline): {reason}"
            dead_letter.record(
                self.spool.directory, reason=reason, source=f"{source.path}:{offset}", data=data, node=node
            )
        self.stats.bad_lines += len(block.bad)
        self.stats.filtered += block.filtered
        end = source.offset + length
        if block.lines:
            lines = [line + b"\n" for line in block.lines.split(b"\n")[:-1]]
            self._write_state(source, source.offset, pending_end=end)
            self._unsynced.update(self.spool.append_many(lines))
            self.stats.spooled += len(lines)
        source.offset = end
        self.stats.batches += 1
        self._write_state(source, end, sync=self.settings.fsync == "append")
        self._sync()


def _last_line_start(fd: int) -> int:
    """The offset just after the last newline of the file (where the next whole line starts)."""
    size = os.fstat(fd).st_size
    position = size
    while position > 0:
        start = max(0, position - 65536)
        data = os.pread(fd, position - start, start)
        newline = data.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0


def follow(settings: Settings, **kwargs) -> FollowStats:
    """Run a :class:`Follower` with SIGTERM/SIGINT handlers until one arrives."""
    follower = Follower(settings, **kwargs)
    follower.install_signal_handlers()
    return follower.run()
