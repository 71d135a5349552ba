"""How far the pipeline is behind ``alerts.json``, measured cheaply: its tail and the spool's own state.

integratord runs one hook at a time, so a manager that fires alerts faster than the hook
path takes them makes integratord fall behind in ``alerts.json`` (see README, "hook or
follow"). Being behind is where alerts get lost: a restart of integratord reopens the file
at its end, and several rotations while it still reads an old file skip the files between.

The **position** of the hook path is the newest alert it has handed over: the newest event
time among the last lines of the newest spool segments, or, when the flusher has emptied
the spool since, among the newest files of the delivered index (a finding uid ends in the
event's epoch milliseconds), or the position the last gap fill started from (its older
alerts may fill a segment's tail). For ``follow`` it is the offset in its state file.

What is **behind** is every alert of ``alerts.json`` after that position that the
``<integration>`` block's filters pass (``<level>``, ``<group>``, ``<rule_id>``, with
integratord's semantics): counted by reading the live file backwards from its end, at most
:data:`SCAN_BYTES`, until lines older than the position by :data:`REORDER_MS` (analysisd's
threads write alerts nearly, not exactly, in time order). Past the cap or the start of the
file (a rotation since the position) the count is a lower bound. ``seconds`` is the age of
the oldest alert behind: how long integratord has kept the admin waiting.

Nothing here writes anything or scans a whole file.
"""

from __future__ import annotations

import json
import logging
import os
import time

from wazuh_ocsf.config import Settings
from wazuh_ocsf.errors import SpoolError
from wazuh_ocsf.operations import ossec_conf
from wazuh_ocsf.readers.alerts import LIVE_NAME, alert_time_ms, alerts_dir_of
from wazuh_ocsf.readers.pipeline import AlertFilter
from wazuh_ocsf.spool.store import Spool

log = logging.getLogger(__name__)

#: At most this many bytes of alerts.json are read backwards to count what is behind.
SCAN_BYTES = 16 * 1024 * 1024
#: How far out of time order analysisd writes alerts (its threads stamp them, one thread writes):
#: lines this much older than the position end the backward scan, and the gap fill stops this
#: far before the position, where integratord is certainly done.
REORDER_MS = 10_000
#: Bytes read from the end of each of the newest spool segments.
SEGMENT_TAIL_BYTES = 64 * 1024
#: How many of the newest segments (and delivered-index files) are looked at.
NEWEST_FILES = 3
_CHUNK = 1024 * 1024

HOOK, FOLLOW = "hook", "follow"


# -- which path, which filters ------------------------------------------------------------------


def integration_block(wazuh_home: str) -> ossec_conf.IntegrationBlock | None:
    """The ``custom-wazuh-ocsf`` block of ``<home>/etc/ossec.conf``, or None (absent, unreadable)."""
    path = os.path.join(wazuh_home, "etc", "ossec.conf")
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            blocks = ossec_conf.ours(handle.read())
    except OSError as exc:
        log.debug("cannot read %s: %s", path, exc)
        return None
    return blocks[0] if blocks else None


def block_filter(block: ossec_conf.IntegrationBlock) -> AlertFilter:
    """integratord's ``<level>``/``<group>``/``<rule_id>`` tests of one block (bad values: no test)."""
    from wazuh_ocsf.config import _groups, _rule_ids

    level = block.value("level")
    groups = block.value("group")
    rule_ids = block.value("rule_id")
    try:
        rule_ids = _rule_ids(rule_ids) if rule_ids else None
    except ValueError:
        rule_ids = None
    try:
        groups = _groups(groups) if groups else None
    except ValueError:
        groups = None
    return AlertFilter(level=int(level) if level and level.isdigit() else None, groups=groups, rule_ids=rule_ids)


def follow_state_path(settings: Settings) -> str:
    """``<spool>/state/follow.json`` (see :mod:`wazuh_ocsf.readers.follow`)."""
    from wazuh_ocsf.readers.follow import STATE as FOLLOW_STATE

    return os.path.join(Spool(settings).state_dir, FOLLOW_STATE)


def pipeline_mode(settings: Settings, block: ossec_conf.IntegrationBlock | None) -> str | None:
    """``hook`` when ossec.conf has our block, else ``follow`` when follow has a state, else None."""
    if block is not None:
        return HOOK
    if os.path.exists(follow_state_path(settings)):
        return FOLLOW
    return None


# -- the hook path's position ----------------------------------------------------------------------


def _tail_lines(path: str, size: int) -> list:
    """The complete lines among the last ``size`` bytes of ``path`` (oldest first)."""
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        start = max(0, end - size)
        handle.seek(start)
        data = handle.read(end - start)
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: empty, or a line still being written
    if start > 0 and lines:
        lines.pop(0)  # cut at the front
    return lines


def spool_position(spool: Spool) -> int | None:
    """The newest event time (epoch ms) among the last lines of the newest spool segments."""
    active, sealed = spool._scan()
    newest = sorted(sealed + ([active] if active else []), key=lambda s: s.sort_key())[-NEWEST_FILES:]
    best = None
    for segment in newest:
        try:
            lines = _tail_lines(segment.path, SEGMENT_TAIL_BYTES)
        except FileNotFoundError:
            continue  # delivered meanwhile: the delivered index has it
        for raw in lines:
            moment = _event_time(raw)
            if moment is not None and (best is None or moment > best):
                best = moment
    return best


def _event_time(raw: bytes) -> int | None:
    try:
        moment = json.loads(raw).get("time")
    except (ValueError, AttributeError):
        return None
    return moment if type(moment) is int else None


def delivered_position(spool_dir: str) -> int | None:
    """The newest event time among the newest files of the delivered index's newest day."""
    from wazuh_ocsf.flush.delivered_index import DIRECTORY

    root = os.path.join(spool_dir, DIRECTORY)
    try:
        days = sorted(name for name in os.listdir(root) if name.isdigit())
    except OSError:
        return None
    for day in reversed(days):
        directory = os.path.join(root, day)
        try:
            files = [e for e in os.scandir(directory) if e.name.endswith(".parquet")]
        except OSError:
            continue
        files.sort(key=lambda entry: entry.stat().st_mtime)
        best = None
        for entry in files[-NEWEST_FILES:]:
            for moment in _uid_times(entry.path):
                if best is None or moment > best:
                    best = moment
        if best is not None:
            return best
    return None


def _uid_times(path: str) -> list:
    """Epoch ms of every finding uid (``<node>:<id>:<epoch ms>``) in one delivered-index file."""
    import pyarrow.parquet as pq

    try:
        uids = pq.read_table(path, columns=["uid"]).column("uid").to_pylist()
    except (OSError, ValueError) as exc:
        log.warning("cannot read the delivered index file %s: %s", path, exc)
        return []
    times = []
    for uid in uids:
        tail = uid.rpartition(":")[2] if uid else ""
        if tail.isdigit():
            times.append(int(tail))
    return times


def hook_position(settings: Settings) -> tuple:
    """``(epoch ms, "spool" | "delivered" | "gap fill")`` of the newest alert the hook path has, or ``(None, None)``.

    A gap fill appends older alerts after the hook's lines, possibly more than a segment's
    tail holds: the position it started from (recorded in its state) counts too.
    """
    from wazuh_ocsf.readers import gap_fill

    candidates = [
        (spool_position(Spool(settings)), "spool"),
        (delivered_position(settings.spool_dir), "delivered"),
        (gap_fill.load(settings.spool_dir).get("position_ms"), "gap fill"),
    ]
    known = [(moment, source) for moment, source in candidates if type(moment) is int]
    return max(known, key=lambda item: item[0]) if known else (None, None)


# -- what is behind --------------------------------------------------------------------------------


class Behind:
    """Alerts of alerts.json after a position: how many, the oldest and newest, and whether exact."""

    __slots__ = ("alerts", "exact", "newest_ms", "oldest_ms", "scanned_bytes")

    def __init__(self) -> None:
        self.alerts = 0
        self.exact = True  # False: the scan hit its cap or the start of the file first
        self.oldest_ms: int | None = None
        self.newest_ms: int | None = None
        self.scanned_bytes = 0


def _passes(alert_filter: AlertFilter | None, raw: bytes) -> bool:
    if alert_filter is None or not alert_filter.active:
        return True
    try:
        alert = json.loads(raw)
    except ValueError:
        return False  # integratord skips lines it cannot parse
    return type(alert) is dict and alert_filter.matches(alert)


def _complete_end(handle, end: int) -> int:
    """The offset just after the last newline before ``end`` (0 if none): drops a line still being written."""
    position = end
    while position > 0:
        size = min(_CHUNK, position)
        position -= size
        handle.seek(position)
        newline = handle.read(size).rfind(b"\n")
        if newline >= 0:
            return position + newline + 1
    return 0


def _lines_backwards(handle, end: int, budget: int):
    """Yield ``(line, start offset)`` of the complete lines before ``end``, newest first, within ``budget`` bytes."""
    end = _complete_end(handle, end)
    position = end
    carry = None  # the end of a line whose start lies before ``position``
    while position > 0 and end - position < budget:
        size = min(_CHUNK, position)
        position -= size
        handle.seek(position)
        data = handle.read(size)
        parts = data.split(b"\n")
        if carry is None:
            parts.pop()  # empty: ``end`` follows a newline
        else:
            parts[-1] += carry
        carry = parts.pop(0)
        starts = []
        offset = position + len(carry) + 1
        for line in parts:
            starts.append(offset)
            offset += len(line) + 1
        for line, start in zip(reversed(parts), reversed(starts)):
            if end - start > budget:
                return
            yield line, start
    if position == 0 and carry is not None and end <= budget:
        yield carry, 0


def alerts_after(path: str, after_ms: int | None, *, alert_filter: AlertFilter | None = None,
                 max_bytes: int = SCAN_BYTES) -> Behind:
    """Count the alerts of ``path`` newer than ``after_ms`` that pass ``alert_filter``.

    Reads backwards from the end; stops at lines older than ``after_ms - REORDER_MS``, or
    after ``max_bytes`` (then ``exact`` is False, and also when the file's start came before any
    line as old as ``after_ms``: the rest is in a file rotated since). ``after_ms``
    None counts nothing and only finds the newest alert. Raises OSError if unreadable.
    """
    behind = Behind()
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        stop_ms = None if after_ms is None else after_ms - REORDER_MS
        reached_stop = seen_position = False
        for raw, start in _lines_backwards(handle, end, max_bytes):
            behind.scanned_bytes = end - start
            try:
                moment = alert_time_ms(raw)
            except ValueError:
                continue
            if behind.newest_ms is None and _passes(alert_filter, raw):
                behind.newest_ms = moment
            if after_ms is None:
                if behind.newest_ms is not None:
                    return behind
                continue
            if moment < stop_ms:
                reached_stop = True
                break
            if moment <= after_ms:
                seen_position = True
            elif _passes(alert_filter, raw):
                behind.alerts += 1
                if behind.oldest_ms is None or moment < behind.oldest_ms:
                    behind.oldest_ms = moment
        # Read to the file's start, past the position: nothing newer is in an older file.
        whole_file = end <= max_bytes
        behind.exact = reached_stop or after_ms is None or (whole_file and seen_position)
    return behind


# -- the report ------------------------------------------------------------------------------------


def measure(settings: Settings, *, now: float | None = None, max_bytes: int = SCAN_BYTES) -> dict:
    """The lag as plain data (``status --json``'s ``lag``).

    ``mode`` hook/follow/None; ``position_time`` (epoch s) and ``position_source`` of the
    newest alert the path has; ``behind_alerts`` (a lower bound when ``exact`` is false),
    ``behind_seconds`` (age of the oldest alert behind, 0 when none), ``newest_alert_time``;
    ``error`` when something could not be read.
    """
    now = time.time() if now is None else now
    alerts_path = os.path.join(alerts_dir_of(settings.wazuh_home), LIVE_NAME)
    block = integration_block(settings.wazuh_home)
    mode = pipeline_mode(settings, block)
    data = {
        "mode": mode,
        "alerts_file": alerts_path,
        "position_time": None,
        "position_source": None,
        "newest_alert_time": None,
        "behind_alerts": 0,
        "behind_seconds": 0.0,
        "exact": True,
        "error": None,
    }
    if mode is None:
        return data
    try:
        if mode == HOOK:
            position_ms, source = hook_position(settings)
            alert_filter = block_filter(block)
            behind = alerts_after(alerts_path, position_ms, alert_filter=alert_filter, max_bytes=max_bytes)
            if position_ms is None:  # nothing spooled or delivered yet
                behind.alerts, behind.exact = 0, True
        else:
            position_ms, source = None, "follow state"
            behind = _follow_behind(settings, alerts_path, max_bytes)
    except SpoolError as exc:
        data["error"] = str(exc)
        return data
    except OSError as exc:
        data["error"] = f"cannot read {exc.filename or alerts_path}: {exc.strerror or exc}"
        return data
    data["position_time"] = None if position_ms is None else position_ms / 1000
    data["position_source"] = source
    data["newest_alert_time"] = None if behind.newest_ms is None else behind.newest_ms / 1000
    data["behind_alerts"] = behind.alerts
    data["exact"] = behind.exact
    if behind.alerts:
        # Past the scan's cap the oldest alert behind was not seen: the position bounds its age.
        oldest = position_ms if not behind.exact and position_ms is not None else behind.oldest_ms
        data["behind_seconds"] = round(max(0.0, now - oldest / 1000), 3)
    return data


def _follow_behind(settings: Settings, alerts_path: str, max_bytes: int) -> Behind:
    """follow: the alerts between its saved offset and the end of ``alerts.json`` (its filters come later)."""
    path = follow_state_path(settings)
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        offset = int(state["offset"])
        followed = (int(state["dev"]), int(state["ino"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpoolError(f"cannot read the follow state {path}: {exc}") from None
    behind = Behind()
    with open(alerts_path, "rb") as handle:
        status = os.fstat(handle.fileno())
        if (status.st_dev, status.st_ino) != followed:
            behind.exact = False  # follow still reads an older file: this whole file is behind too
            offset = 0
        size = status.st_size - offset
        if size > max_bytes:
            behind.exact = False
        for raw, start in _lines_backwards(handle, status.st_size, min(max_bytes, max(0, size))):
            if start < offset:
                break
            try:
                moment = alert_time_ms(raw)
            except ValueError:
                continue
            behind.alerts += 1
            behind.newest_ms = moment if behind.newest_ms is None else behind.newest_ms
            behind.oldest_ms = moment if behind.oldest_ms is None else min(behind.oldest_ms, moment)
            behind.scanned_bytes = status.st_size - start
    return behind


# -- the alert rate --------------------------------------------------------------------------------

#: The rate is the manager's over this many seconds before now, read from alerts.json's tail.
RATE_WINDOW = 3600
#: Peak rates are per this many seconds: long enough that integratord cannot absorb it.
RATE_BUCKET = 60
RATE_SCAN_BYTES = 64 * 1024 * 1024


def alert_rate(path: str, *, now: float, alert_filter: AlertFilter | None = None, window: int = RATE_WINDOW,
               bucket: int = RATE_BUCKET, max_bytes: int = RATE_SCAN_BYTES) -> dict:
    """Alerts per second in ``path`` over the last ``window`` seconds that pass ``alert_filter``.

    ``{"alerts", "seconds", "mean_rate", "peak_rate" (the busiest bucket), "sample" (the newest
    passing line, or None)}``; ``seconds``, the span covered, is shorter than ``window`` when the
    file (rotated since) or the scan (``max_bytes``) begins inside it.
    Raises OSError if the file cannot be read.
    """
    start_ms = int((now - window) * 1000)
    counts: dict = {}
    total = 0
    oldest_ms = None
    sample = None
    reached_start = False
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        for raw, _start in _lines_backwards(handle, end, max_bytes):
            try:
                moment = alert_time_ms(raw)
            except ValueError:
                continue
            if moment < start_ms:
                if moment < start_ms - REORDER_MS:
                    reached_start = True
                    break
                continue
            if not _passes(alert_filter, raw):
                continue
            if sample is None:
                sample = raw
            total += 1
            oldest_ms = moment if oldest_ms is None else min(oldest_ms, moment)
            counts[moment // (bucket * 1000)] = counts.get(moment // (bucket * 1000), 0) + 1
    # A file (or scan) that begins inside the window covers only the span since its oldest alert.
    covered = window if reached_start or oldest_ms is None else max(1.0, now - oldest_ms / 1000)
    return {
        "alerts": total,
        "seconds": covered,
        "mean_rate": total / covered if covered else 0.0,
        "peak_rate": max(counts.values()) / bucket if counts else 0.0,
        "sample": sample,
    }
