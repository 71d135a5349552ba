"""The flusher: sealed spool segments → Parquet objects → every sink, exactly once.

One batch at a time, one block of it at a time (so memory does not grow with the
backlog). A batch is one sealed segment, or several small consecutive ones whose bytes
together fit in one block: they are converted together and become one set of objects, so a
quiet manager's many tiny segments cost one conversion, one manifest and one delivery
instead of one each. For each batch:

1. convert its complete lines to Arrow tables of the explicit schema, one per class
   (:mod:`wazuh_ocsf.flush.convert`); bad lines and a torn last line go to the dead-letter
   directory, once, before the manifest exists;
2. sort each class's rows by ``time``, cut them by UTC ``eventDay`` and write Parquet parts
   to ``<spool>/outgoing/<lead segment>/`` (:mod:`wazuh_ocsf.flush.parquet_writer`);
3. on the first attempt, write the manifest (:mod:`wazuh_ocsf.flush.manifest`) — object names,
   the batch's segments and sizes, block boundaries and the exact row ranges of every part;
   later attempts rebuild the Parquet files from the same bytes following the manifest, so
   the batch, the names and the rows never change;
4. hand all objects to each sink that has not acknowledged them yet, recording each
   acknowledgement in the manifest (a sink that fails is skipped for the rest of this flush
   and retried by the next one, which does not re-deliver to the sinks that succeeded);
5. when every configured sink has them: record the finding uids in the delivered index,
   release the segments (delete or archive; the lead last), remove the manifest.

A crash anywhere leaves the batch's lead in the spool; the next flush finishes the work, and
because object names are deterministic, re-delivering an object overwrites it. A segment
named by a manifest is never put in another batch.
``WAZUH_OCSF_CRASH_AT=parquet|deliver|release|release-member`` kills the process with SIGKILL
at that point (``release-member``: after the first of several segments is released), for
tests of exactly that.
"""

from __future__ import annotations

import bisect
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

from wazuh_ocsf import __version__
from wazuh_ocsf.config import Settings
from wazuh_ocsf.errors import ConfigError, ConversionError, SinkError, SpoolError
from wazuh_ocsf.flush import manifest as manifests
from wazuh_ocsf.flush.convert import Converted, convert_block
from wazuh_ocsf.flush.delivered_index import DeliveredIndex, finding_uids
from wazuh_ocsf.flush.manifest import Manifest, ObjectEntry
from wazuh_ocsf.flush.parquet_writer import day_slices, sort_by_time, write_day
from wazuh_ocsf.operations.status import human_size
from wazuh_ocsf.sinks.base import Sink
from wazuh_ocsf.spool import dead_letter
from wazuh_ocsf.spool.store import Segment, Spool, split_lines

log = logging.getLogger(__name__)

#: Spool bytes converted at a time. Memory use is a small multiple of this, whatever the backlog.
#: A default segment (32 MiB) is one block, so it becomes one object per class and day.
BLOCK_BYTES = 32 * 1024 * 1024
OUTGOING = "outgoing"
CRASH_ENV = "WAZUH_OCSF_CRASH_AT"
CRASH_POINTS = ("parquet", "deliver", "release", "release-member")


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
        batches = job.plan(spool.sealed_segments())
        for number, batch in enumerate(batches):
            if time.monotonic() >= job.deadline:
                left = sum(len(later.segments) for later in batches[number:])
                message = (
                    f"{settings.flush_deadline:g}s deadline (WAZUH_OCSF_FLUSH_DEADLINE) passed: {left} "
                    f"segment{'s' * (left != 1)} left for the next flush"
                )
                log.error("%s", message)
                result.failures.append(message)
                result.left += left
                break
            job.flush_batch(batch)
        job.remove_orphan_manifests()
    result.seconds = time.monotonic() - started
    log.info("%s", result.summary())
    return result


@dataclass
class Batch:
    """Sealed segments flushed together: the lead (first, oldest) names the manifest and the objects."""

    segments: list  # [Segment], oldest first; the ones still in the spool when it has a manifest
    manifest: Manifest | None = None
    problem: str = ""  # why it cannot be flushed now (it is kept)

    @property
    def lead(self) -> Segment:
        return self.segments[0]

    @property
    def name(self) -> str:
        return self.manifest.segment if self.manifest is not None else self.lead.name


class _Built:
    """A batch converted and written as Parquet: objects, uids per day, counts."""

    def __init__(self) -> None:
        self.objects: list = []  # [ParquetObject]
        self.entries: list = []  # [ObjectEntry]
        self.uids: dict = {}  # eventDay → [pa.Array]
        self.bad: list = []  # [BadLine]
        self.block_ends: list = []
        self.torn_tails: list = []  # [bytes] per segment of the batch


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
        """Manifests none of whose segments is left (released just before a crash) are finished work."""
        live = {segment.name for segment in self.spool.sealed_segments()}
        active = self.spool.active_segment()
        if active is not None:
            live.add(active.name)
        for name in manifests.segment_names(self.spool_dir):
            if name in live:
                continue
            try:
                manifest = manifests.load(self.spool_dir, name)
            except SpoolError:
                manifest = None  # damaged, and its lead (released last) is gone: finished
            if manifest is not None and live.intersection(manifest.segment_names()):
                continue  # the lead is gone but not the whole batch: see plan()
            log.info("removing the manifest of %s: the segment was already released", name)
            manifests.remove(self.spool_dir, name)

    def plan(self, sealed: list) -> list:
        """The sealed segments grouped into batches, oldest first.

        A segment a manifest names stays in that manifest's batch. The others are grouped in
        runs of consecutive segments whose sizes add up to at most the block size (a larger
        segment is a batch of its own, converted block by block).
        """
        by_name = {segment.name: segment for segment in sealed}
        claimed: set = set()
        batches = []
        for name in manifests.segment_names(self.spool_dir):
            try:
                manifest = manifests.load(self.spool_dir, name)
            except SpoolError as exc:
                if name in by_name:
                    # Which segments it batched is unknown: hold the lead and every segment
                    # that could have been in its batch rather than deliver them twice.
                    held = self._possible_members(sealed, by_name[name])
                    claimed.update(segment.name for segment in held)
                    batches.append(Batch(held, problem=str(exc)))
                continue
            names = manifest.segment_names()
            present = [by_name[n] for n in names if n in by_name]
            if not present:
                continue  # released; remove_orphan_manifests() removes the manifest
            claimed.update(names)
            gone = [n for n in names if n not in by_name]
            problem = ""
            if gone and (not manifest.indexed or self._pending(manifest)):
                path = manifests.manifest_path(self.spool_dir, name)
                problem = (
                    f"{', '.join(gone)} of this batch left the spool (drop-oldest?) before the batch reached "
                    f"every sink, so its objects cannot be rebuilt; move {path} away "
                    "to deliver the rest under new object names (objects already delivered may then exist twice)"
                )
            batches.append(Batch(present, manifest, problem))
        run: list = []
        run_bytes = 0
        for segment in sealed:
            if segment.name in claimed or (run and run_bytes + segment.size > self.block_bytes):
                if run:
                    batches.append(Batch(run))
                run, run_bytes = [], 0
            if segment.name not in claimed:
                run.append(segment)
                run_bytes += segment.size
        if run:
            batches.append(Batch(run))
        batches.sort(key=lambda batch: batch.lead.sort_key())
        return batches

    def _possible_members(self, sealed: list, lead: Segment) -> list:
        held, total = [], 0
        for segment in sealed[sealed.index(lead) :]:
            total += segment.size
            if held and total > self.block_bytes:
                break
            held.append(segment)
        return held

    def _pending(self, manifest: Manifest) -> list:
        return [s for s in self.sinks if sink_id(s) not in manifest.acknowledged]

    # -- one batch ------------------------------------------------------------------------------

    def flush_batch(self, batch: Batch) -> None:
        """Deliver one batch to every sink that lacks it; release its segments when all have it."""
        outgoing = self.spool_dir / OUTGOING / batch.name
        try:
            if batch.problem:
                self._fail(batch, batch.problem)
                return
            manifest = batch.manifest
            pending = self._pending(manifest) if manifest is not None else list(self.sinks)
            attempt = [s for s in pending if sink_id(s) not in self.failed_sinks]
            if pending and not attempt:
                names = ", ".join(sink_id(s) for s in pending)
                self._fail(batch, f"not attempted: {names} failed earlier in this flush", level=logging.INFO)
                return
            if manifest is not None and not pending and manifest.indexed:
                self._release(batch, manifest)
                return
            outgoing.mkdir(parents=True, exist_ok=True)
            built = self._build(batch, outgoing)
            if manifest is None:
                manifest = self._first_manifest(batch, built)
            for sink in attempt:
                if not self._deliver(batch, sink, built.objects):
                    continue
                crash_point("deliver")
                manifest.acknowledged.append(sink_id(sink))
                manifests.save(self.spool_dir, manifest)
            if self._pending(manifest):
                self.result.left += len(batch.segments)
                return
            if not manifest.indexed:
                self.index.record(manifest.segment, {day: _concat(arrays) for day, arrays in built.uids.items()})
                manifest.indexed = True
                manifests.save(self.spool_dir, manifest)
            self._release(batch, manifest, built)
        except (ConversionError, SpoolError, ConfigError) as exc:
            self._fail(batch, str(exc))
        except OSError as exc:
            self._fail(batch, f"{exc.strerror or exc} ({getattr(exc, 'filename', '') or batch.lead.path})")
        except pa.ArrowException as exc:
            self._fail(batch, f"cannot write its Parquet objects: {exc}")
        finally:
            shutil.rmtree(outgoing, ignore_errors=True)

    def _fail(self, batch: Batch, message: str, level: int = logging.ERROR) -> None:
        what = _describe(batch)
        log.log(level, "%s kept in the spool: %s", what, message)
        self.result.failures.append(f"{batch.name}: {message}")
        self.result.left += len(batch.segments)

    def _deliver(self, batch: Batch, sink: Sink, objects: list) -> bool:
        if not objects:
            return True
        try:
            with _alarm_at(self.deadline):
                sink.deliver(objects)
        except SinkError as exc:
            self.failed_sinks.add(sink_id(sink))
            self.result.failures.append(f"{batch.name}: {sink_id(sink)}: {exc}")
            log.error("delivery of %s to %s failed: %s", _describe(batch), sink_id(sink), exc)
            return False
        except ConfigError as exc:
            self.result.failures.append(f"{batch.name}: {sink_id(sink)}: configuration: {exc}")
            log.error("delivery of %s to %s impossible: %s", _describe(batch), sink_id(sink), exc)
            return False
        log.info("delivered %s (%d objects) to %s", _describe(batch), len(objects), sink_id(sink))
        got = self.result.delivered.setdefault(sink_id(sink), {"objects": 0, "events": 0, "bytes": 0})
        got["objects"] += len(objects)
        got["events"] += sum(obj.rows for obj in objects)
        got["bytes"] += sum(obj.size for obj in objects)
        return True

    def _release(self, batch: Batch, manifest: Manifest, built: _Built | None = None) -> None:
        crash_point("release")
        # The lead last: while it is in the spool, so is the manifest that finishes the batch.
        for number, segment in enumerate(reversed(batch.segments)):
            if number == 1:
                crash_point("release-member")
            self.spool.release(segment)
        manifests.remove(self.spool_dir, manifest.segment)
        self.result.segments += len(batch.segments)
        self.result.events += manifest.rows
        self.result.objects += len(manifest.objects)
        if built is not None:
            self.result.bytes += sum(obj.size for obj in built.objects)
        log.info("released %s (%d events)", _describe(batch), manifest.rows)

    def _first_manifest(self, batch: Batch, built: _Built) -> Manifest:
        # Dead letters first: a crash before the manifest repeats them (a duplicate record)
        # rather than losing them; with a manifest they are never written again.
        node = self.settings.node_name
        for source, bad in built.bad:
            dead_letter.record(str(self.spool_dir), reason=bad.reason, source=source, data=bad.data, node=node)
        for segment, torn_tail in zip(batch.segments, built.torn_tails):
            if torn_tail:
                dead_letter.record(
                    str(self.spool_dir),
                    reason="torn last line: its writer was killed mid-line",
                    source=f"{segment.path}:end",
                    data=torn_tail,
                    node=node,
                )
        torn = sum(bool(tail) for tail in built.torn_tails)
        self.result.dead_lettered += len(built.bad) + torn
        lead = batch.lead
        manifest = Manifest(
            segment=lead.name,
            segment_size=lead.size,
            compression=self.settings.compression,
            block_ends=built.block_ends,
            objects=built.entries,
            dead_lettered=len(built.bad),
            torn_tail_bytes=len(built.torn_tails[0]),
            created_by=f"wazuh-ocsf {__version__}",
            members=[
                {"name": segment.name, "size": segment.size, "torn_tail_bytes": len(tail)}
                for segment, tail in zip(batch.segments[1:], built.torn_tails[1:])
            ],
        )
        manifests.save(self.spool_dir, manifest)
        return manifest

    # -- conversion and Parquet -------------------------------------------------------------------

    def _build(self, batch: Batch, outgoing: Path) -> _Built:
        """Convert the batch block by block and write its Parquet parts (per the manifest, if any)."""
        built = _Built()
        manifest = batch.manifest
        compression = manifest.compression if manifest else self.settings.compression
        next_part: dict = {}  # (class, day) → next part number (first attempt)
        if manifest.members if manifest is not None else len(batch.segments) > 1:
            blocks = _batch_blocks(batch, manifest, built)
        else:
            blocks = _segment_blocks(batch.lead, manifest, self.block_bytes, built)
        for index, (data, sources) in enumerate(blocks):
            converted = convert_block(data, first_line=1)
            built.bad.extend((_line_source(sources, bad.number), bad) for bad in converted.bad)
            planned = [e for e in manifest.objects if e.block == index] if manifest else None
            self._write_block(batch, converted, index, planned, next_part, compression, outgoing, built)
        crash_point("parquet")
        if manifest is not None:
            self._check_against(batch, manifest, built)
        return built

    def _write_block(
        self,
        batch: Batch,
        converted: Converted,
        index: int,
        planned,
        next_part: dict,
        compression: str,
        outgoing,
        built,
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
                            f"{_describe(batch)}: block {index} now converts to {length} events of class {class_uid} "
                            f"on {day}, but its manifest planned {sum(p.rows for p in plan)} (was the segment or the "
                            "schema changed since the first attempt?); the segment is kept"
                        )
                written = write_day(
                    rows,
                    directory=outgoing,
                    segment_name=batch.name,
                    class_uid=class_uid,
                    event_day=day,
                    first_part=next_part.get((class_uid, day), 0),
                    compression=compression,
                    object_max_bytes=self.settings.object_max_bytes,
                    plan=plan,
                )
                for obj, part in written:
                    built.objects.append(obj)
                    built.entries.append(ObjectEntry(obj.name, class_uid, day, part.part, index, part.first, part.rows))
                    next_part[(class_uid, day)] = part.part + 1
                built.uids.setdefault(day, []).append(finding_uids(rows, class_uid))

    def _check_against(self, batch: Batch, manifest: Manifest, built: _Built) -> None:
        expected = sorted(e.name for e in manifest.objects)
        got = sorted(obj.name for obj in built.objects)
        if expected != got:
            raise ConversionError(
                f"{_describe(batch)}: rebuilt objects {got} differ from the manifest's {expected}; the segment is kept"
            )


def _describe(batch: Batch) -> str:
    """``segment <path>``, or ``batch of N segments <first path> …`` for people."""
    if len(batch.segments) == 1:
        return f"segment {batch.lead.path}"
    return f"batch of {len(batch.segments)} segments {batch.lead.path} … {batch.segments[-1].name}"


def _segment_blocks(segment: Segment, manifest: Manifest | None, block_bytes: int, built: _Built) -> Iterator[tuple]:
    """One segment's blocks: ``(complete lines, line sources)``; the first attempt records the block ends."""
    with open(segment.path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if manifest is not None and size != manifest.segment_size:
            raise ConversionError(
                f"{segment.path} has {size} bytes but its manifest recorded {manifest.segment_size}: "
                "a sealed segment must never change"
            )
        built.torn_tails = [b""]
        if manifest is not None:
            for start, end in manifest.blocks():
                handle.seek(start)
                yield handle.read(end - start), ()  # no dead letters on a retry: no sources needed
            return
        start, line = 0, 1
        while True:
            data = next_block(handle, block_bytes)
            if not data:
                break
            if not data.endswith(b"\n"):  # only the end of the file lacks a newline
                data, built.torn_tails[0] = split_lines(data)
                if not data:
                    break
            built.block_ends.append(start + len(data))
            yield data, [(1, segment.path, line)]
            line += data.count(b"\n")
            start += len(data)


def _batch_blocks(batch: Batch, manifest: Manifest | None, built: _Built) -> Iterator[tuple]:
    """Several small segments as one block: their complete lines, one after the other."""
    recorded = None
    if manifest is not None:
        recorded = [(manifest.segment_size, manifest.torn_tail_bytes)]
        recorded += [(member["size"], member["torn_tail_bytes"]) for member in manifest.members]
    pieces, sources, line = [], [], 1
    for number, segment in enumerate(batch.segments):
        with open(segment.path, "rb") as handle:
            data = handle.read()
        if recorded is not None:
            size, torn = recorded[number]
            if len(data) != size:
                raise ConversionError(
                    f"{segment.path} has {len(data)} bytes but its manifest recorded {size}: "
                    "a sealed segment must never change"
                )
            data = data[: size - torn]
        else:
            data, tail = split_lines(data)
            built.torn_tails.append(tail)
        sources.append((line, segment.path, 1))
        pieces.append(data)
        line += data.count(b"\n")
    data = b"".join(pieces)
    if recorded is None:
        built.block_ends.append(len(data))
    yield data, sources


def _line_source(sources, number: int) -> str:
    """``<segment path>:<line>`` of line ``number`` (1-based) of a block."""
    position = bisect.bisect_right([source[0] for source in sources], number) - 1
    block_line, path, file_line = sources[position]
    return f"{path}:{file_line + number - block_line}"


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
