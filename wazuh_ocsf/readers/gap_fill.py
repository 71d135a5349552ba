"""The scheduled gap fill: spool the alerts integratord skipped, before each flush, in hook mode.

integratord loses alerts while it is behind: a restart reopens ``alerts.json`` at its end,
several rotations while it still reads an old file skip the files between, and it drops
lines over 64 KiB. The flush schedule runs ``wazuh-ocsf backfill --recent`` first, which
runs :func:`gap_fill`: a backfill (same deduplication: nothing already in the spool or the
delivered index is sent again) bounded on both sides:

* **up to** the hook path's position (:func:`wazuh_ocsf.operations.lag.hook_position`) minus
  :data:`wazuh_ocsf.operations.lag.REORDER_MS`: integratord reads ``alerts.json`` in order and never
  goes back, so an alert that far before the newest one it handed over will never come
  from it. What lies after is still integratord's to deliver (it may just be behind);
* **from** where the last run stopped (file label and offset: each run reads only what was
  written since), or ``WAZUH_OCSF_GAP_FILL_WINDOW`` back from now on the first run or when
  the last one is older than that. Files are read across rotations, so the file integratord
  was reading when it fell behind is covered too;
* with the ``<integration>`` block's ``<level>``/``<group>``/``<rule_id>`` filters, so it
  spools what integratord would have handed over and nothing else. A block with
  ``<event_location>`` (Wazuh's OSMatch, not emulated) is not filled: the run says so.

The outcome is kept in ``<spool>/state/gap_fill.json`` (the resume point, the hook path's
position it filled up to, the last run, and the fills of the last day) for ``status``
("integratord missed N alerts in the last day") and ``doctor``. Not in hook mode (no block in
ossec.conf) it does nothing.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timezone

from wazuh_ocsf.config import Settings
from wazuh_ocsf.durable import read_json_state, write_json_atomic
from wazuh_ocsf.errors import SpoolBusyError, SpoolError
from wazuh_ocsf.operations import lag
from wazuh_ocsf.readers.alerts import alerts_dir_of
from wazuh_ocsf.readers.pipeline import MapOptions
from wazuh_ocsf.spool.store import STATE, Spool

log = logging.getLogger(__name__)

FILE_NAME = "gap_fill.json"
#: Fills are remembered this long (``status`` shows the last day's).
HISTORY_SECONDS = 86400


def path_of(spool_dir: str) -> str:
    """``<spool>/state/gap_fill.json``."""
    return os.path.join(spool_dir, STATE, FILE_NAME)


def load(spool_dir: str) -> dict:
    """The recorded state (``{}`` when no gap fill ran or the file is unreadable)."""
    return read_json_state(path_of(spool_dir))


def missed_since(state: dict, since: float) -> int:
    """How many alerts the gap fills since ``since`` (epoch s) spooled: what integratord missed."""
    return sum(int(filled) for when, filled in state.get("fills", []) if when >= since)


class GapFillResult:
    """What one run did: ``skipped`` says why it did nothing, else the backfill's figures."""

    def __init__(self, skipped: str | None = None, backfill=None) -> None:
        self.skipped = skipped
        self.backfill = backfill

    @property
    def filled(self) -> int:
        return self.backfill.spooled if self.backfill is not None else 0

    def to_dict(self) -> dict:
        """Plain data for ``--json``."""
        data = {"skipped": self.skipped, "filled": self.filled}
        if self.backfill is not None:
            data["backfill"] = self.backfill.to_dict()
        return data

    def summary(self) -> str:
        """One line for people."""
        if self.skipped:
            return f"gap fill skipped: {self.skipped}"
        return f"gap fill: {self.filled} alerts integratord missed were spooled; {self.backfill.summary()}"


def _save(spool_dir: str, state: dict) -> None:
    path = path_of(spool_dir)
    try:
        os.makedirs(os.path.dirname(path), 0o750, exist_ok=True)
        write_json_atomic(path, state)
    except OSError as exc:
        raise SpoolError(f"cannot write the gap fill state {path}: {exc.strerror or exc}") from None


def _record(spool_dir: str, state: dict, result: GapFillResult, now: float) -> None:
    run = {"time": now, "filled": result.filled, "skipped": result.skipped}
    if result.backfill is not None:
        run.update(since=result.backfill.since, until=result.backfill.until, alerts=result.backfill.alerts,
                   seconds=round(result.backfill.seconds, 3))
    state["last_run"] = run
    fills = [entry for entry in state.get("fills", []) if entry[0] >= now - HISTORY_SECONDS]
    if result.filled:
        fills.append([now, result.filled])
    state["fills"] = fills
    _save(spool_dir, state)


def gap_fill(
    settings: Settings, *, now: float | None = None, alerts_dir: str | None = None, workers: int | None = None
) -> GapFillResult:
    """Spool what integratord skipped since the last run (see the module docstring); record it.

    Raises SpoolError when the spool cannot be used, SpoolFullError when it is full (the
    resume point keeps what was done, so the next run goes on from there).
    """
    from wazuh_ocsf.readers.backfill import _lock

    now = time.time() if now is None else now
    spool = Spool(settings)
    if not os.path.isdir(spool.directory):
        raise SpoolError(f"spool directory {spool.directory} does not exist: run the installer")
    state = load(spool.directory)
    result = _plan(settings)
    if result is None:
        lock = _lock(spool)
        try:
            lock.__enter__()
        except SpoolBusyError as exc:
            result = GapFillResult(f"a backfill holds the spool ({exc}); the next run covers this one")
        else:
            try:
                result = _fill(settings, spool, state, lock, now, alerts_dir, workers or 1)
            finally:
                lock.__exit__(None, None, None)
    _record(spool.directory, state, result, now)
    if result.skipped is None:
        log.info("%s", result.summary())
    return result


def _fill(settings: Settings, spool: Spool, state: dict, lock, now: float, alerts_dir, workers: int) -> GapFillResult:
    """The bounded backfill itself, under the backfill lock; moves ``state``'s resume point."""
    from wazuh_ocsf.readers.backfill import BATCH_LINES, BackfillResult, _Job, iso

    started = time.monotonic()
    position_ms, _source = lag.hook_position(settings)
    state["position_ms"] = position_ms
    until_ms = position_ms - lag.REORDER_MS
    since_ms = int((now - settings.gap_fill_window) * 1000)
    resume = state.get("resume")
    start = (resume["file"], int(resume["offset"])) if resume and resume.get("until_ms", 0) >= since_ms else None
    if until_ms <= since_ms:
        return GapFillResult("the hook path's position is older than the window: nothing to fill yet")
    since = datetime.fromtimestamp(since_ms / 1000, timezone.utc)
    until = datetime.fromtimestamp(until_ms / 1000, timezone.utc)
    counts = BackfillResult(since=iso(since), until=iso(until))
    options = MapOptions(
        class_uid=settings.ocsf_class,
        product_version=settings.product_version,
        attack_version=settings.attack_version,
        alert_filter=lag.block_filter(lag.integration_block(settings.wazuh_home)),
    )
    job = _Job(
        settings, spool, alerts_dir or alerts_dir_of(settings.wazuh_home), since, until, start, counts, None,
        BATCH_LINES, options=options, checkpoint=False,
    )
    try:
        job.run(workers, close_fds=(lock.fileno(),))
    finally:
        if job.position is not None:  # what was committed counts even if a later batch failed
            state["resume"] = {"file": job.position[0], "offset": job.position[1], "until_ms": until_ms}
            _save(spool.directory, state)
    counts.seconds = time.monotonic() - started
    return GapFillResult(backfill=counts)


def _plan(settings: Settings) -> GapFillResult | None:
    """A skipped result when there is nothing this run can do, else None."""
    block = lag.integration_block(settings.wazuh_home)
    if block is None:
        return GapFillResult(
            f"not in hook mode: {settings.wazuh_home}/etc/ossec.conf has no {lag.ossec_conf.INTEGRATION_NAME} block"
        )
    if block.value("event_location"):
        return GapFillResult(
            "the integration block has <event_location>, which the gap fill cannot apply as integratord does; "
            "fill gaps with `wazuh-ocsf backfill --since …` or switch to --mode follow"
        )
    if lag.hook_position(settings)[0] is None:
        return GapFillResult("nothing was spooled or delivered yet: no position to fill up to")
    return None
