"""The flusher: sealed spool segments → Parquet objects → every sink, exactly once.

One segment at a time, one block of it at a time (so memory does not grow with the
backlog), for each segment:

1. convert its complete lines to Arrow tables of the explicit schema, one per class
   (:mod:`wazuh_ocsf.convert`); bad lines and a torn last line go to the dead-letter
   directory, once, before the manifest exists;
2. sort each class's rows by ``time``, cut them by UTC ``eventDay`` and write Parquet parts
   to ``<spool>/outgoing/<segment>/`` (:mod:`wazuh_ocsf.parquet_writer`);
3. on the first attempt, write the manifest (:mod:`wazuh_ocsf.manifest`) — object names,
   block boundaries and the exact row ranges of every part; later attempts rebuild the
   Parquet files from the segment following the manifest, so names and rows never change;
4. hand all objects to each sink that has not acknowledged them yet, recording each
   acknowledgement in the manifest (a sink that fails is skipped for the rest of this flush
   and retried by the next one, which does not re-deliver to the sinks that succeeded);
5. when every configured sink has them: record the finding uids in the delivered index,
   release the segment (delete or archive), remove the manifest.

A crash anywhere leaves the segment in the spool; the next flush finishes the work, and
because object names are deterministic, re-delivering an object overwrites it.
``WAZUH_OCSF_CRASH_AT=parquet|deliver|release`` kills the process with SIGKILL at that point
(for tests of exactly that).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa

from wazuh_ocsf import __version__, dead_letter
from wazuh_ocsf import manifest as manifests
from wazuh_ocsf.config import Settings
from wazuh_ocsf.convert import Converted, convert_block
from wazuh_ocsf.delivered_index import DeliveredIndex, finding_uids
from wazuh_ocsf.errors import ConfigError, ConversionError, SinkError, SpoolError
from wazuh_ocsf.manifest import Manifest, ObjectEntry
from wazuh_ocsf.parquet_writer import day_slices, sort_by_time, write_day
from wazuh_ocsf.sinks.base import Sink
from wazuh_ocsf.spool import Spool, split_lines
from wazuh_ocsf.status import human_size

log = logging.getLogger(__name__)

#: Spool bytes converted at a time. Memory use is a small multiple of this, whatever the backlog.
#: A default segment (32 MiB) is one block, so it becomes one object per class and day.
BLOCK_BYTES = 32 * 1024 * 1024
OUTGOING = "outgoing"
CRASH_ENV = "WAZUH_OCSF_CRASH_AT"
CRASH_POINTS = ("parquet", "deliver", "release")


@dataclass
class FlushResult:
    """What a flush did. ``ok`` is False when anything was left unsent."""

    segments: int = 0  # segments delivered to every sink and released
    events: int = 0  # rows in the objects of those segments
    objects: int = 0
    bytes: int = 0  # Parquet bytes of those objects
    seconds: float = 0.0
    dead_lettered: int = 0  # lines sent to the dead-letter directory by this flush
    left: int = 0  # sealed segments still in the spool
    failures: list = field(default_factory=list)  # one message per failure
    # What each sink acknowledged in this run, whether or not its segments could be released:
    # sink id → {"objects": n, "events": n, "bytes": n}. A flush that fails still shows here
    # what it did deliver (the next flush sends those segments only to the sinks that lack them).
    delivered: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every sealed segment was delivered and released."""
        return not self.failures and not self.left

    def to_dict(self) -> dict:
        """Plain data for ``--json``."""
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["ok"] = self.ok
        return data

    def summary(self) -> str:
        """One line for people."""
        line = (
            f"flushed {self.segments} segment{'s' * (self.segments != 1)}: {self.events} events in "
            f"{self.objects} object{'s' * (self.objects != 1)} ({human_size(self.bytes)}) in {self.seconds:.1f} s"
        )
        if self.dead_lettered:
            line += f"; {self.dead_lettered} bad lines dead-lettered"
        if self.left:
            line += f"; {self.left} segment{'s' * (self.left != 1)} left unsent ({len(self.failures)} failures)"
        partial = {sink: got for sink, got in self.delivered.items() if got["objects"] != self.objects}
        if partial:
            line += "; partial delivery: " + ", ".join(
                f"{sink} received {got['events']} events in {got['objects']} object{'s' * (got['objects'] != 1)}"
                for sink, got in sorted(partial.items())
            )
        return line


def sink_id(sink: Sink) -> str:
    """How a sink is named in manifests: its kind and destination."""
    described = sink.describe()
    prefix = f"{sink.name}:"
    return described if described.startswith(prefix) else prefix + described


def crash_point(name: str) -> None:
    """Fault injection: SIGKILL this process if ``WAZUH_OCSF_CRASH_AT`` names this point."""
    if os.environ.get(CRASH_ENV) == name:
        log.warning("%s=%s: killing the flusher now", CRASH_ENV, name)
        os.kill(os.getpid(), signal.SIGKILL)


def flush(settings: Settings, sinks: Sequence[Sink], *, block_bytes: int = BLOCK_BYTES) -> FlushResult:
    """Seal the active segment, then deliver every sealed segment to every sink.

    Raises SpoolBusyError at once when another flusher is at work, ConfigError when there
    is no sink, SpoolError when the spool itself cannot be used. Failures of single segments
    or sinks do not raise: they are listed in the result and their segments stay spooled.
    """
    started = time.monotonic()
    if not sinks:
        raise ConfigError("WAZUH_OCSF_BUCKET", "no destination: set the Security Lake bucket or an output directory")
    spool = Spool(settings)
    result = FlushResult()
    with spool.flush_lock():
        job = _FlushJob(settings, spool, list(sinks), result, block_bytes, deadline=started + settings.flush_deadline)
        job.clean_outgoing()
        spool.seal_active()
        segments = spool.sealed_segments()
        for number, segment in enumerate(segments):
            if time.monotonic() >= job.deadline:
                left = len(segments) - number
                message = (
                    f"{settings.flush_deadline:g}s deadline (WAZUH_OCSF_FLUSH_DEADLINE) passed: {left} "
                    f"segment{'s' * (left != 1)} left for the next flush"
                )
                log.error("%s", message)
                result.failures.append(message)
                result.left += left
                break
            job.flush_segment(segment)
        job.remove_orphan_manifests()
    result.seconds = time.monotonic() - started
    log.info("%s", result.summary())
    return result


class _Built:
    """A segment converted and written as Parquet: objects, uids per day, counts."""

    def __init__(self) -> None:
        self.objects: list = []  # [ParquetObject]
        self.entries: list = []  # [ObjectEntry]
        self.uids: dict = {}  # eventDay → [pa.Array]
        self.bad: list = []  # [BadLine]
        self.block_ends: list = []
        self.torn_tail: bytes = b""


class _FlushJob:
    """The state of one flush run (never shared between runs)."""

    def __init__(
        self, settings: Settings, spool: Spool, sinks: list, result: FlushResult, block_bytes: int, *, deadline: float
    ) -> None:
        self.settings = settings
        self.deadline = deadline  # time.monotonic() when deliveries stop
        self.spool = spool
        self.spool_dir = Path(spool.directory)
        self.sinks = sinks
        self.result = result
        self.block_bytes = block_bytes
        self.failed_sinks: set = set()
        self.index = DeliveredIndex(self.spool_dir)

    # -- housekeeping ---------------------------------------------------------------------------

    def clean_outgoing(self) -> None:
        """Remove Parquet files a crashed flush left behind (we hold the flush lock)."""
        outgoing = self.spool_dir / OUTGOING
        if outgoing.is_dir():
            for entry in outgoing.iterdir():
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)

    def remove_orphan_manifests(self) -> None:
        """Manifests whose segment is gone (released just before a crash) are finished work."""
        live = {segment.name for segment in self.spool.sealed_segments()}
        active = self.spool.active_segment()
        if active is not None:
            live.add(active.name)
        for name in manifests.segment_names(self.spool_dir):
            if name not in live:
                log.info("removing the manifest of %s: the segment was already released", name)
                manifests.remove(self.spool_dir, name)

    # -- one segment ----------------------------------------------------------------------------

    def flush_segment(self, segment) -> None:
        """Deliver one sealed segment to every sink that lacks it; release it when all have it."""
        outgoing = self.spool_dir / OUTGOING / segment.name
        try:
            manifest = manifests.load(self.spool_dir, segment.name)
            pending = [s for s in self.sinks if manifest is None or sink_id(s) not in manifest.acknowledged]
            attempt = [s for s in pending if sink_id(s) not in self.failed_sinks]
            if pending and not attempt:
                names = ", ".join(sink_id(s) for s in pending)
                self._fail(segment, f"not attempted: {names} failed earlier in this flush", level=logging.INFO)
                return
            if manifest is not None and not pending and manifest.indexed:
                self._release(segment, manifest)
                return
            outgoing.mkdir(parents=True, exist_ok=True)
            built = self._build(segment, manifest, outgoing)
            if manifest is None:
                manifest = self._first_manifest(segment, built)
            for sink in attempt:
                if not self._deliver(segment, sink, built.objects):
                    continue
                crash_point("deliver")
                manifest.acknowledged.append(sink_id(sink))
                manifests.save(self.spool_dir, manifest)
            missing = [sink_id(s) for s in self.sinks if sink_id(s) not in manifest.acknowledged]
            if missing:
                self.result.left += 1
                return
            if not manifest.indexed:
                self.index.record(segment.name, {day: _concat(arrays) for day, arrays in built.uids.items()})
                manifest.indexed = True
                manifests.save(self.spool_dir, manifest)
            self._release(segment, manifest, built)
        except (ConversionError, SpoolError, ConfigError) as exc:
            self._fail(segment, str(exc))
        except OSError as exc:
            self._fail(segment, f"{exc.strerror or exc} ({getattr(exc, 'filename', '') or segment.path})")
        except pa.ArrowException as exc:
            self._fail(segment, f"cannot write its Parquet objects: {exc}")
        finally:
            shutil.rmtree(outgoing, ignore_errors=True)

    def _fail(self, segment, message: str, level: int = logging.ERROR) -> None:
        log.log(level, "segment %s kept in the spool: %s", segment.name, message)
        self.result.failures.append(f"{segment.name}: {message}")
        self.result.left += 1

    def _deliver(self, segment, sink: Sink, objects: list) -> bool:
        if not objects:
            return True
        try:
            with _alarm_at(self.deadline):
                sink.deliver(objects)
        except SinkError as exc:
            self.failed_sinks.add(sink_id(sink))
            self.result.failures.append(f"{segment.name}: {sink_id(sink)}: {exc}")
            log.error("delivery of %s to %s failed: %s", segment.name, sink_id(sink), exc)
            return False
        except ConfigError as exc:
            self.result.failures.append(f"{segment.name}: {sink_id(sink)}: configuration: {exc}")
            log.error("delivery of %s to %s impossible: %s", segment.name, sink_id(sink), exc)
            return False
        log.info("delivered %s (%d objects) to %s", segment.name, len(objects), sink_id(sink))
        got = self.result.delivered.setdefault(sink_id(sink), {"objects": 0, "events": 0, "bytes": 0})
        got["objects"] += len(objects)
        got["events"] += sum(obj.rows for obj in objects)
        got["bytes"] += sum(obj.size for obj in objects)
        return True

    def _release(self, segment, manifest: Manifest, built: _Built | None = None) -> None:
        crash_point("release")
        self.spool.release(segment)
        manifests.remove(self.spool_dir, segment.name)
        self.result.segments += 1
        self.result.events += manifest.rows
        self.result.objects += len(manifest.objects)
        if built is not None:
            self.result.bytes += sum(obj.size for obj in built.objects)
        log.info("released %s (%d events)", segment.name, manifest.rows)

    def _first_manifest(self, segment, built: _Built) -> Manifest:
        # Dead letters first: a crash before the manifest repeats them (a duplicate record)
        # rather than losing them; with a manifest they are never written again.
        node = self.settings.node_name
        for bad in built.bad:
            dead_letter.record(
                str(self.spool_dir), reason=bad.reason, source=f"{segment.path}:{bad.number}", data=bad.data, node=node
            )
        if built.torn_tail:
            dead_letter.record(
                str(self.spool_dir),
                reason="torn last line: its writer was killed mid-line",
                source=f"{segment.path}:end",
                data=built.torn_tail,
                node=node,
            )
        self.result.dead_lettered += len(built.bad) + bool(built.torn_tail)
        manifest = Manifest(
            segment=segment.name,
            segment_size=segment.size,
            compression=self.settings.compression,
            block_ends=built.block_ends,
            objects=built.entries,
            dead_lettered=len(built.bad),
            torn_tail_bytes=len(built.torn_tail),
            created_by=f"wazuh-ocsf {__version__}",
        )
        manifests.save(self.spool_dir, manifest)
        return manifest

    # -- conversion and Parquet -------------------------------------------------------------------

    def _build(self, segment, manifest: Manifest | None, outgoing: Path) -> _Built:
        """Convert the segment block by block and write its Parquet parts (per the manifest, if any)."""
        built = _Built()
        compression = manifest.compression if manifest else self.settings.compression
        next_part: dict = {}  # (class, day) → next part number (first attempt)
        with open(segment.path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if manifest is not None and size != manifest.segment_size:
                raise ConversionError(
                    f"{segment.path} has {size} bytes but its manifest recorded {manifest.segment_size}: "
                    "a sealed segment must never change"
                )
            blocks = manifest.blocks() if manifest else None
            start, line, index = 0, 1, 0
            while True:
                if blocks is not None:
                    if index >= len(blocks):
                        break
                    start, end = blocks[index]
                    handle.seek(start)
                    data = handle.read(end - start)
                else:
                    data = next_block(handle, self.block_bytes)
                    if not data:
                        break
                    if not data.endswith(b"\n"):  # only the end of the file lacks a newline
                        data, built.torn_tail = split_lines(data)
                        if not data:
                            break
                    built.block_ends.append(start + len(data))
                converted = convert_block(data, first_line=line)
                built.bad.extend(converted.bad)
                planned = [e for e in manifest.objects if e.block == index] if manifest else None
                self._write_block(segment, converted, index, planned, next_part, compression, outgoing, built)
                line += data.count(b"\n")
                start += len(data)
                index += 1
        crash_point("parquet")
        if manifest is not None:
            self._check_against(segment, manifest, built)
        return built

    def _write_block(
        self, segment, converted: Converted, index: int, planned, next_part: dict, compression: str, outgoing, built
    ) -> None:
        for class_uid, table in sorted(converted.tables.items()):
            table = sort_by_time(table)
            for day, offset, length in day_slices(table):
                rows = table.slice(offset, length)
                plan = None
                if planned is not None:
                    plan = [e.plan() for e in planned if e.class_uid == class_uid and e.event_day == day]
                    if sum(p.rows for p in plan) != length:
                        raise ConversionError(
                            f"{segment.path}: block {index} now converts to {length} events of class {class_uid} "
                            f"on {day}, but its manifest planned {sum(p.rows for p in plan)} (was the segment or the "
                            "schema changed since the first attempt?); the segment is kept"
                        )
                written = write_day(
                    rows,
                    directory=outgoing,
                    segment_name=segment.name,
                    class_uid=class_uid,
                    event_day=day,
                    first_part=next_part.get((class_uid, day), 0),
                    compression=compression,
                    object_max_bytes=self.settings.object_max_bytes,
                    plan=plan,
                )
                for obj, part in written:
                    built.objects.append(obj)
                    built.entries.append(
                        ObjectEntry(obj.name, class_uid, day, part.part, index, part.first, part.rows)
                    )
                    next_part[(class_uid, day)] = part.part + 1
                built.uids.setdefault(day, []).append(finding_uids(rows, class_uid))

    def _check_against(self, segment, manifest: Manifest, built: _Built) -> None:
        expected = sorted(e.name for e in manifest.objects)
        got = sorted(obj.name for obj in built.objects)
        if expected != got:
            raise ConversionError(
                f"{segment.path}: rebuilt objects {got} differ from the manifest's {expected}; the segment is kept"
            )


class DeadlinePassed(SinkError):
    """The flush deadline passed while a sink was delivering (the delivery was interrupted)."""


@contextlib.contextmanager
def _alarm_at(deadline: float) -> Iterator[None]:
    """Interrupt the block with DeadlinePassed at ``deadline`` (``time.monotonic()``).

    A sink blocked on a peer that accepted the connection and never answers is interrupted
    by SIGALRM, so the flush ends and releases its lock. Only the main thread receives
    signals: elsewhere the deadline is enforced between segments only.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlinePassed("the flush deadline (WAZUH_OCSF_FLUSH_DEADLINE) passed before the delivery began")
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame) -> None:
        raise DeadlinePassed("interrupted: the flush deadline (WAZUH_OCSF_FLUSH_DEADLINE) passed")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, remaining)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def next_block(handle, block_bytes: int) -> bytes:
    """Read about ``block_bytes`` and up to the end of that line (or the end of the file)."""
    data = handle.read(block_bytes)
    if not data or data.endswith(b"\n"):
        return data
    rest = []
    while True:
        chunk = handle.readline()
        rest.append(chunk)
        if not chunk or chunk.endswith(b"\n"):
            break
    return data + b"".join(rest)


def _concat(arrays: list) -> pa.Array:
    return pa.concat_arrays(arrays) if arrays else pa.array([], pa.string())
