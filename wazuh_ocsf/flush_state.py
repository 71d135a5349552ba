"""The flusher's last outcome, kept durably for ``wazuh-ocsf status``.

``<spool>/state/last_flush.json`` (written atomically: temp name, then ``os.replace``)::

    {"last_success": {"time": 1713795646.2, "segments": 2, "events": 1200, "objects": 3,
                      "bytes": 183420, "seconds": 1.4},
     "last_failure": {"time": 1713795346.0, "reason": "...", "failures": 1, "left": 2},
     "last_run": {"time": 1713795646.2, "ok": true}}

A run that delivered every sealed segment is a success (even with nothing to send: it shows
the schedule runs); a run that left anything unsent, or could not run at all, is a failure
whose reason is its first error. Each run replaces only its own entry, so the last success
and the last failure are both kept. Reasons are redacted (:mod:`wazuh_ocsf.redact`).
"""

from __future__ import annotations

import logging
import os
import time

from wazuh_ocsf.durable import read_json_state, write_json_atomic
from wazuh_ocsf.spool import STATE

log = logging.getLogger(__name__)

FILE_NAME = "last_flush.json"
REASON_MAX = 2000


def path_of(spool_dir: str) -> str:
    """``<spool>/state/last_flush.json``."""
    return os.path.join(spool_dir, STATE, FILE_NAME)


def load(spool_dir: str) -> dict:
    """The recorded state (``{}`` if no flush ever ran, or the file is unreadable)."""
    return read_json_state(path_of(spool_dir))


def _save(spool_dir: str, update: dict) -> None:
    """Merge ``update`` into the state file atomically; log (never raise) when it cannot be written."""
    path = path_of(spool_dir)
    data = load(spool_dir)
    data.update(update)
    try:
        os.makedirs(os.path.dirname(path), 0o750, exist_ok=True)
        write_json_atomic(path, data)
    except OSError as exc:
        log.warning("cannot record the flush outcome in %s: %s", path, exc.strerror or exc)


def record_result(spool_dir: str, result, *, secrets=(), now: float | None = None) -> None:
    """Record a finished flush (a :class:`~wazuh_ocsf.flusher.FlushResult`)."""
    from wazuh_ocsf.redact import redact

    when = time.time() if now is None else now
    update = {"last_run": {"time": when, "ok": result.ok}}
    if result.ok:
        update["last_success"] = {
            "time": when,
            "segments": result.segments,
            "events": result.events,
            "objects": result.objects,
            "bytes": result.bytes,
            "seconds": round(result.seconds, 3),
        }
    else:
        reason = result.failures[0] if result.failures else f"{result.left} segments left unsent"
        update["last_failure"] = {
            "time": when,
            "reason": redact(reason, secrets)[:REASON_MAX],
            "failures": len(result.failures),
            "left": result.left,
            "delivered_segments": result.segments,
            "delivered_events": result.events,
        }
    _save(spool_dir, update)


def record_failure(spool_dir: str, reason: str, *, secrets=(), now: float | None = None) -> None:
    """Record a flush that could not run at all (configuration, spool, sink setup)."""
    from wazuh_ocsf.redact import redact

    when = time.time() if now is None else now
    _save(
        spool_dir,
        {
            "last_run": {"time": when, "ok": False},
            "last_failure": {"time": when, "reason": redact(reason, secrets)[:REASON_MAX], "failures": 1, "left": None},
        },
    )
