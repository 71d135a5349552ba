"""Backfill: map and spool every alert of a time range from ``alerts.json`` and its archives.

integratord skips the alerts written while it restarts (it reopens ``alerts.json`` at its
end); a backfill fills such gaps, or loads history, without sending anything twice:

* an alert whose finding uid is in the **delivered index** (:mod:`wazuh_ocsf.flush.delivered_index`,
  per UTC eventDay) was already stored by every sink: skipped;
* an alert whose finding uid is in an **unsent spool segment** is on its way: skipped. The
  segments are scanned once at the start, keeping only the uids whose time falls in the
  range; memory is bounded by the unsent events of that range (about 120 bytes per event:
  at most ~120 MB for a full 2 GiB spool of 2 KiB events) and does not grow while running.

Progress is checkpointed after every batch appended to the spool, in
``<spool>/state/backfill.json`` (file label, offset, range; temp file, fsync, rename): an
interrupted run started again with the same ``--since`` (and ``--until``, if one was given)
resumes where it stopped. A batch appended just before a crash, but not yet checkpointed,
is read again and skipped, because its uids are then in the spool. The checkpoint is removed
when a run completes, so running the same range again reads everything and sends nothing.

Alerts the hook spools while a backfill runs are not seen by its start-up scan: keep
``--until`` before the point integratord (or ``follow``) has reached.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from wazuh_ocsf.config import Settings
from wazuh_ocsf.durable import write_json_atomic
from wazuh_ocsf.errors import SpoolError
from wazuh_ocsf.readers.alerts import AlertsReader, alerts_dir_of
from wazuh_ocsf.readers.pipeline import MapOptions, MappingPool
from wazuh_ocsf.spool import dead_letter
from wazuh_ocsf.spool.store import ExclusiveLock, Spool

log = logging.getLogger(__name__)

CHECKPOINT = "backfill.json"
LOCK = "backfill.lock"
BATCH_LINES = 2000
BATCH_BYTES = 4 * 1024 * 1024
_INDEX_DAYS = 4  # delivered-index days kept in memory at once
_SCAN_BLOCK = 16 * 1024 * 1024


@dataclass
class BackfillResult:
    """What a backfill did."""

    since: str = ""
    until: str = ""
    alerts: int = 0  # alerts of the range read by this run
    spooled: int = 0
    already_delivered: int = 0
    already_spooled: int = 0
    bad_lines: int = 0  # dead-lettered
    already_dead_lettered: int = 0  # bad lines a dead-letter record already holds (an earlier run's)
    skipped_files: list = field(default_factory=list)  # ["path: reason"]
    missing_days: list = field(default_factory=list)  # ["YYYY-MM-DD"]
    resumed_from: str | None = None  # "label:offset" of the checkpoint this run started at
    pending_tail_bytes: int = 0  # the live file's unfinished last line, left for later
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """Plain data for ``--json``."""
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        # A range of years can miss thousands of days: first/last of each run of days, and the count.
        data["missing_days"] = {
            "count": len(self.missing_days),
            "ranges": [{"first": first, "last": last} for first, last in day_ranges(self.missing_days)],
        }
        return data

    def summary(self) -> str:
        """One line for people."""
        line = (
            f"backfill {self.since} .. {self.until}: {self.alerts} alerts read, {self.spooled} spooled, "
            f"{self.already_delivered} already delivered, {self.already_spooled} already in the spool"
        )
        if self.bad_lines:
            line += f", {self.bad_lines} bad lines dead-lettered"
        if self.already_dead_lettered:
            line += f", {self.already_dead_lettered} bad lines already in the dead letters"
        if self.skipped_files:
            line += f", {len(self.skipped_files)} files skipped"
        if self.resumed_from:
            line += f" (resumed at {self.resumed_from})"
        return line + f" in {self.seconds:.1f} s"


def day_ranges(days: list) -> list:
    """``["2024-01-01", "2024-01-02", "2024-01-05"]`` → ``[("2024-01-01", "2024-01-02"), ("2024-01-05", …)]``."""
    from datetime import date, timedelta

    ranges: list = []
    for text in sorted(set(days)):
        day = date.fromisoformat(text)
        if ranges and ranges[-1][1] == day - timedelta(days=1):
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return [(first.isoformat(), last.isoformat()) for first, last in ranges]


def describe_days(days: list) -> str:
    """``3 days: 2024-01-01 .. 2024-01-02, 2024-01-05``, for people."""
    parts = [first if first == last else f"{first} .. {last}" for first, last in day_ranges(days)]
    shown = ", ".join(parts[:10]) + (f" and {len(parts) - 10} more ranges" if len(parts) > 10 else "")
    return f"{len(days)} day{'s' * (len(days) != 1)}: {shown}"


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds and ``Z``."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    """``2024-04-22``, ``2024-04-22T14:00``, ``…:46.976+0000``, ``…Z`` → an aware UTC datetime.

    A time without an offset is UTC. Raises ValueError with an example otherwise.
    """
    from wazuh_ocsf.mapping.timestamps import parse_timestamp

    value = text.strip()
    if len(value) == 10:
        value += "T00:00:00"
    elif len(value) >= 16 and value[13] == ":" and value[16:17] != ":":
        value = value[:16] + ":00" + value[16:]  # 2024-04-22T14:00[Z|+0200]
    try:
        epoch_ms, _offset = parse_timestamp(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date or time like 2024-04-22, 2024-04-22T14:00 or 2024-04-22T14:00:00Z"
        ) from None
    return datetime.fromtimestamp(epoch_ms / 1000, timezone.utc)


# -- the checkpoint -------------------------------------------------------------------------------


def checkpoint_path(spool: Spool) -> str:
    """``<spool>/state/backfill.json``."""
    return os.path.join(spool.state_dir, CHECKPOINT)


def read_checkpoint(spool: Spool) -> dict | None:
    """The saved checkpoint, or None (a damaged one is reported and ignored)."""
    path = checkpoint_path(spool)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring the unreadable backfill checkpoint %s: %s", path, exc)
        return None
    if not isinstance(data, dict) or not {"since", "until", "file", "offset"} <= set(data):
        log.warning("ignoring the backfill checkpoint %s: not a checkpoint", path)
        return None
    return data


def write_checkpoint(spool: Spool, data: dict) -> None:
    """Write the checkpoint durably: temp file in the same directory, fsync, rename."""
    path = checkpoint_path(spool)
    try:
        os.makedirs(spool.state_dir, 0o750, exist_ok=True)
        write_json_atomic(path, data)
    except OSError as exc:
        raise SpoolError(f"cannot write the backfill checkpoint {path}: {exc.strerror or exc}") from None


def remove_checkpoint(spool: Spool) -> None:
    """Forget the checkpoint (the run completed)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(checkpoint_path(spool))


# -- what is already on its way -------------------------------------------------------------------


def spooled_uids(spool: Spool, *, since_ms: int | None, until_ms: int | None) -> set:
    """Finding uids of every unsent spool line whose event time is in ``[since, until)``.

    Reads each segment block by block with the flusher's converter (C speed; bad lines are
    simply not counted, the flusher dead-letters them).
    """
    active = spool.active_segment()
    segments = spool.sealed_segments() + ([active] if active is not None else [])
    uids: set = set()
    for segment in segments:
        try:
            _scan_segment(segment.path, uids, since_ms, until_ms)
        except FileNotFoundError:
            continue  # delivered meanwhile: the delivered index has it
    return uids


def _scan_segment(path: str, uids: set, since_ms: int | None, until_ms: int | None) -> None:
    import pyarrow.compute as pc

    from wazuh_ocsf.flush.convert import convert_block
    from wazuh_ocsf.flush.delivered_index import finding_uids
    from wazuh_ocsf.flush.flusher import next_block

    with open(path, "rb") as handle:
        while True:
            block = next_block(handle, _SCAN_BLOCK)
            if not block:
                return
            if not block.strip():
                continue
            # A torn tail (an active segment's line in the writing) is read too: a bad line, no uid.
            converted = convert_block(block if block.endswith(b"\n") else block + b"\n")
            for class_uid, table in converted.tables.items():
                if not table.num_rows:
                    continue
                times = table.column("time")
                if since_ms is not None:
                    table = table.filter(pc.greater_equal(times, since_ms))
                    times = table.column("time")
                if until_ms is not None:
                    table = table.filter(pc.less(times, until_ms))
                uids.update(finding_uids(table, class_uid).to_pylist())


class _DeliveredDays:
    """The delivered index, a few days at a time (the backfill moves forward through time)."""

    def __init__(self, spool_dir: str) -> None:
        self.spool_dir = spool_dir
        self._days: OrderedDict = OrderedDict()

    def mask(self, uids: list, day: str) -> list:
        from wazuh_ocsf.flush.delivered_index import DeliveredIndex

        index = self._days.get(day)
        if index is None:
            index = self._days[day] = DeliveredIndex(self.spool_dir)
            if len(self._days) > _INDEX_DAYS:
                self._days.popitem(last=False)
        else:
            self._days.move_to_end(day)
        return index.delivered_mask(uids, day).to_pylist()


# -- the run --------------------------------------------------------------------------------------


def _lock(spool: Spool) -> ExclusiveLock:
    """One backfill per spool at a time."""
    path = os.path.join(spool.state_dir, LOCK)
    try:
        os.makedirs(spool.state_dir, 0o750, exist_ok=True)
    except OSError as exc:
        raise SpoolError(f"cannot open the backfill lock {path}: {exc.strerror or exc}") from None
    return ExclusiveLock(
        path,
        what="the backfill lock",
        busy=f"another backfill is running on this spool (it holds {path})",
    )


def backfill(
    settings: Settings,
    *,
    since: datetime,
    until: datetime | None = None,
    alerts_dir: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    batch_lines: int = BATCH_LINES,
) -> BackfillResult:
    """Map and spool every alert of ``[since, until)`` that is neither delivered nor spooled.

    ``until`` defaults to now, or to the range of a checkpoint saved with the same ``since``.
    ``alerts_dir`` defaults to ``<wazuh home>/logs/alerts``. ``progress(done, total)`` is
    called with on-disk bytes after each batch. Raises SpoolBusyError when another backfill
    runs, SpoolFullError when the spool is full (the checkpoint keeps what was done),
    SpoolError when the spool cannot be used.
    """
    started = time.monotonic()
    spool = Spool(settings)
    if not os.path.isdir(spool.directory):
        raise SpoolError(
            f"spool directory {spool.directory} does not exist: run the installer or create it, "
            "or set WAZUH_OCSF_SPOOL_DIR"
        )
    alerts_dir = alerts_dir or alerts_dir_of(settings.wazuh_home)
    with _lock(spool) as lock:
        checkpoint = read_checkpoint(spool)
        since_text = iso(since)
        if until is None and checkpoint is not None and checkpoint["since"] == since_text:
            until_text = checkpoint["until"]
            until = parse_time(until_text)
        else:
            until = until or datetime.now(timezone.utc)
            until_text = iso(until)
        start = None
        if checkpoint is not None:
            if (checkpoint["since"], checkpoint["until"]) == (since_text, until_text):
                start = (checkpoint["file"], int(checkpoint["offset"]))
            else:
                log.warning(
                    "a checkpoint of another range (%s .. %s) exists; starting this range from its beginning",
                    checkpoint["since"],
                    checkpoint["until"],
                )
        result = BackfillResult(since=since_text, until=until_text)
        if start is not None:
            result.resumed_from = f"{start[0]}:{start[1]}"
            log.info("resuming the backfill at %s", result.resumed_from)
        job = _Job(settings, spool, alerts_dir, since, until, start, result, progress, batch_lines)
        job.run(workers or settings.follow_workers, close_fds=(lock.fileno(),))
        remove_checkpoint(spool)
    result.seconds = time.monotonic() - started
    log.info("%s", result.summary())
    return result


def _dead_letter_key(source: str, data: bytes) -> tuple:
    """What identifies a bad line of an alerts file: its offset and its bytes.

    The offset, not the whole source: the same day's file is ``….json`` on one run and
    ``….json.gz`` on the next, once the manager compressed it.
    """
    import hashlib

    return source.rpartition(":")[2], hashlib.sha256(bytes(data)).digest()


def _dead_letter_keys(spool_dir: str) -> set:
    """The keys of every dead-letter record already kept (unreadable records included)."""
    records = dead_letter.iter_records(spool_dir)
    return {_dead_letter_key(str(item.get("source") or ""), item["data"]) for item in records}


class _Job:
    """The state of one backfill run."""

    def __init__(
        self, settings, spool, alerts_dir, since, until, start, result, progress, batch_lines, *, options=None,
        checkpoint=True,
    ) -> None:
        self.settings = settings
        self.options = options  # MapOptions; default: the hook's, without filters
        self.checkpoint = checkpoint  # False: only ``position`` records progress (the gap fill keeps its own)
        self.position = None  # (file label, offset) after the last committed batch
        self.spool = spool
        self.result = result
        self.progress = progress
        self.batch_lines = batch_lines
        self.range_ms = (int(since.timestamp() * 1000), int(until.timestamp() * 1000))
        self.reader = AlertsReader(alerts_dir, since=since, until=until, on_bad=self._on_bad, start=start)
        self.delivered = _DeliveredDays(spool.directory)
        self.known: set = set()
        self.dead = _dead_letter_keys(spool.directory)

    def _on_bad(self, reason: str, item, offset: int, data: bytes) -> None:
        self._dead_letter(reason, f"{item.path}:{offset}", data)

    def _dead_letter(self, reason: str, source: str, data: bytes) -> None:
        key = _dead_letter_key(source, data)
        if key in self.dead:  # an earlier run kept this very line: once is enough
            self.result.already_dead_lettered += 1
            return
        self.dead.add(key)
        dead_letter.record(
            self.spool.directory, reason=reason, source=source, data=data, node=self.settings.node_name
        )
        self.result.bad_lines += 1

    def run(self, workers: int, *, close_fds: tuple = ()) -> None:
        since_ms, until_ms = self.range_ms
        self.known = spooled_uids(self.spool, since_ms=since_ms, until_ms=until_ms)
        log.info("%d uids of the range are in the spool already", len(self.known))
        total = self.reader.total_bytes()
        options = self.options or MapOptions.from_settings(self.settings)
        with MappingPool(options, workers, close_fds=close_fds) as pool:
            lines, offsets, size = [], [], 0
            last = None
            for data, item, offset in self.reader:
                lines.append(data)
                offsets.append(offset)
                size += len(data)
                last = (item, offset + len(data) + 1)
                if len(lines) >= self.batch_lines or size >= BATCH_BYTES:
                    pool.submit(b"\n".join(lines), (last, item.path), offsets=offsets)
                    lines, offsets, size = [], [], 0
                    while pool.full:
                        self._commit(*pool.next_result(), total)
            if lines:
                pool.submit(b"\n".join(lines), (last, last[0].path), offsets=offsets)
            while pool.pending:
                self._commit(*pool.next_result(), total)
        stats = self.reader.stats
        self.result.alerts = stats.alerts
        self.result.skipped_files = [f"{path}: {reason}" for path, reason in stats.skipped_files]
        self.result.missing_days = [day.isoformat() for day in stats.missing_days]
        self.result.pending_tail_bytes = stats.pending_tail
        if self.progress is not None:
            self.progress(total, total)

    def _commit(self, block, meta, total: int) -> None:
        """Dead-letter, deduplicate and spool one mapped batch, then move the checkpoint."""
        (item, end), path = meta
        for offset, reason, data in block.bad:
            self._dead_letter(reason, f"{path}:{offset}", data)
        fresh = []
        by_day: dict = {}
        for index, uid in enumerate(block.uids):
            if uid in self.known:
                self.result.already_spooled += 1
                continue
            by_day.setdefault(block.days[index], []).append(index)
        for day, indexes in by_day.items():
            delivered = self.delivered.mask([block.uids[i] for i in indexes], day)
            for index, done in zip(indexes, delivered):
                if done:
                    self.result.already_delivered += 1
                else:
                    fresh.append(index)
        fresh.sort()
        if fresh:
            self.spool.append_many([block.lines[i] for i in fresh])
            self.result.spooled += len(fresh)
        self.position = (item.label, end)
        if self.checkpoint:
            write_checkpoint(
                self.spool,
                {
                    "since": self.result.since,
                    "until": self.result.until,
                    "file": item.label,
                    "offset": end,
                    "updated": iso(datetime.now(timezone.utc)),
                },
            )
        if self.progress is not None:
            self.progress(self.reader.stats.bytes_done, total)
