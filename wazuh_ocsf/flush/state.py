"""The flusher's last outcome, kept durably for ``wazuh-ocsf status``.

``<spool>/state/last_flush.json`` (written atomically: temp name, then ``os.replace``)::

    {"last_success": {"time": 1713795646.2, "segments": 2, "events": 1200, "objects": 3,
                      "bytes": 183420, "seconds": 1.4},
     "last_failure": {"time": 1713795346.0, "reason": "...", "failures": 1, "left": 2},
     "last_run": {"time": 1713795646.2, "ok": true},
     "last_delivery": {"time": 1713795646.2, "events": 1200, "objects": 3, "bytes": 183420,
                       "destinations": {"s3:s3://bucket/ext/wazuh/": {"events": 1200, "objects": 3,
                                                                     "bytes": 183420}},
                       "complete": true}}

A run that delivered every sealed segment is a success (even with nothing to send: it shows
the schedule runs); a run that left anything unsent, or could not run at all, is a failure
whose reason is its first error. ``last_delivery`` is the last run that handed any object to
any sink (``complete`` false when it failed anyway): when data was last sent, how much and
where, which empty runs never overwrite. Each run replaces only its own entries, so all are
kept. Reasons and destinations are redacted (:mod:`wazuh_ocsf.redact`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

from wazuh_ocsf.durable import read_json_state, write_json_atomic
from wazuh_ocsf.spool.store import STATE

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
        # mkdir, not makedirs: a missing spool is never recreated here (with the wrong owner
        # and mode); the flush that found it missing has already said so.
        with contextlib.suppress(FileExistsError):
            os.mkdir(os.path.dirname(path), 0o750)
        write_json_atomic(path, data)
    except OSError as exc:
        log.warning("cannot record the flush outcome in %s: %s", path, exc.strerror or exc)


def record_result(spool_dir: str, result, *, secrets=(), now: float | None = None) -> None:
    """Record a finished flush (a :class:`~wazuh_ocsf.flush.flusher.FlushResult`)."""
    from wazuh_ocsf.redact import redact

    when = time.time() if now is None else now
    update = {"last_run": {"time": when, "ok": result.ok}}
    sent = {redact(sink, secrets): dict(got) for sink, got in result.delivered.items() if got["objects"]}
    if sent:
        update["last_delivery"] = {
            "time": when,
            **{key: max(got[key] for got in sent.values()) for key in ("events", "objects", "bytes")},
            "destinations": sent,
            "complete": result.ok,
        }
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
