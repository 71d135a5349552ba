"""What ``wazuh-ocsf status`` reports: backlog, last flush, dead letters, destinations, health.

:func:`collect` gathers plain data (the ``--json`` output); :func:`problems` judges it. The
pipeline is unhealthy when events wait longer than the threshold, when the last flush failed
after the last success, when events were refused at the spool's cap since the last success,
or when the spool or a destination is missing. Dead letters are reported, not judged: they
are kept on purpose and need a person (``wazuh-ocsf dead-letter list``).
"""

from __future__ import annotations

import json
import os
import time

from wazuh_ocsf.config import CLASS_NAMES, FINDING_CLASSES, ROUTED_CLASSES, SETTINGS, Settings
from wazuh_ocsf.durable import read_json_state
from wazuh_ocsf.errors import SpoolError
from wazuh_ocsf.flush import state as flush_state
from wazuh_ocsf.hook.run import FALLBACK_RELPATH
from wazuh_ocsf.operations import lag
from wazuh_ocsf.readers import gap_fill
from wazuh_ocsf.sinks.base import partition_path
from wazuh_ocsf.spool import dead_letter
from wazuh_ocsf.spool.store import DEAD_LETTER, STATE, Spool

#: The version of the ``--json`` layout. Fields are only ever added within a version; a field
#: that changes meaning or goes away makes a new version (README lists the fields).
FORMAT = 1
#: A follow heartbeat older than this many intervals means the follower stopped without saying so.
FOLLOW_STALE_BEATS = 3
#: Default oldest-event age (seconds) above which the backlog is unhealthy.
DEFAULT_MAX_AGE = 1800.0
#: Spool fill ratio from which status warns.
FULL_WARNING = 0.8


def destinations(settings: Settings, output_dir: str | None = None) -> dict:
    """Where each class's events go: ``{"security_finding": ["s3://…", "/dir/…", "https://…"], …}``.

    The two finding classes, and the routed classes when ``OCSF_CLASS=auto``. An empty list means
    nowhere. The S3 and local sinks need the class's custom source (the partition tree's prefix);
    the HTTP sink takes every class. URLs are shown without
    credentials or query string.
    """
    from wazuh_ocsf.redact import public_url

    out = {}
    classes = FINDING_CLASSES + (ROUTED_CLASSES if settings.routing else ())
    for class_uid in sorted(classes):
        name = CLASS_NAMES[class_uid]
        prefix = settings.destination_prefix(class_uid)
        places = []
        if prefix is not None:
            partition = partition_path(
                region=settings.region or "<region?>", account_id=settings.account_id or "<account?>", event_day="*"
            )
            if settings.bucket:
                places.append(f"s3://{settings.bucket}/{prefix}{partition}")
            directory = output_dir or settings.output_dir
            if directory:
                places.append(os.path.join(os.path.abspath(directory), prefix + partition))
        if settings.http_url:
            places.append(public_url(settings.http_url))
        out[name] = places
    return out


def collect(settings: Settings, *, max_age: float = DEFAULT_MAX_AGE, now: float | None = None) -> dict:
    """Every figure ``status`` shows, as plain data; ``problems`` and ``warnings`` judge them."""
    from wazuh_ocsf.redact import redact, secrets_of

    now = time.time() if now is None else now
    data = {"format": FORMAT, "time": now, "config_path": settings.config_path, "max_age": max_age}
    try:
        spool = Spool(settings).stats()
        spool["oldest_age"] = now - spool["oldest_segment_time"] if spool["oldest_segment_time"] else None
        spool["last_refused_time"] = _mtime(os.path.join(settings.spool_dir, STATE, "refused"))
        data["spool"] = spool
        data["spool_error"] = None
    except SpoolError as exc:
        data["spool"] = None
        data["spool_error"] = str(exc)
    # Redacted again on the way out: a state file written by an older version may hold a secret.
    secrets = secrets_of(settings)
    data["flush"] = json.loads(redact(json.dumps(flush_state.load(settings.spool_dir)), secrets))
    data["last_delivery"] = data["flush"].get("last_delivery")
    data["follow"] = _follow_heartbeat(settings)
    data["stranded_dead_letters"] = _stranded_dead_letters(settings)
    data["destinations"] = destinations(settings)
    data["ocsf_class"] = CLASS_NAMES[settings.ocsf_class]
    data["routing"] = settings.routing  # OCSF_CLASS=auto: ocsf_class is the class of alerts no route takes
    data["active_routes"] = [CLASS_NAMES[uid] for uid in settings.active_routes()] if settings.routing else []
    data["inactive_routes"] = (
        [CLASS_NAMES[uid] for uid in ROUTED_CLASSES if not settings.has_destination(uid)] if settings.routing else []
    )
    data["config"] = settings.masked()
    data["config_set"] = sorted(
        s.env for s in SETTINGS if s.attr != "wazuh_home" and settings.source_of(s.attr) != "default"
    )
    data["lag"] = lag.measure(settings, now=now)
    data["gap_fill"] = gap_fill_summary(settings.spool_dir, now)
    data["problems"], data["warnings"] = problems(data, settings)
    data["healthy"] = not data["problems"]
    return data


def problems(data: dict, settings: Settings) -> tuple:
    """``(problems, warnings)``: lists of sentences. Any problem makes the pipeline unhealthy."""
    bad, warn = [], []
    spool, flush, max_age = data["spool"], data["flush"], data["max_age"]
    success = (flush.get("last_success") or {}).get("time")
    failure = flush.get("last_failure") or {}
    if data["spool_error"]:
        bad.append(data["spool_error"])
    if spool and spool["oldest_age"] is not None and spool["oldest_age"] > max_age and spool["events"] != 0:
        bad.append(
            f"the oldest spooled event waits for {_duration(spool['oldest_age'])} (threshold {_duration(max_age)}): "
            "is the flush schedule running and delivering? see logs/wazuh-ocsf.log"
        )
    if failure.get("time") and (success is None or failure["time"] > success):
        bad.append(f"the last flush failed: {failure.get('reason')}")
    refused_at = spool["last_refused_time"] if spool and spool["refused_events"] else None
    if refused_at and (success is None or refused_at > success):
        bad.append(
            f"the spool refused events at its cap since the last successful flush ({spool['refused_events']} "
            "refused in all): alerts are being lost; deliver the backlog or raise WAZUH_OCSF_SPOOL_MAX_BYTES"
        )
    if not any(data["destinations"].values()):
        bad.append(
            "no destination: set WAZUH_OCSF_BUCKET (or WAZUH_OCSF_OUTPUT_DIR) and the custom source, "
            "or WAZUH_OCSF_HTTP_URL"
        )
    elif not data["destinations"][CLASS_NAMES[settings.ocsf_class]]:
        bad.append(f"the configured class {data['ocsf_class']} has no destination: set its custom source")
    if spool and spool["cap_bytes"] and spool["bytes"] >= FULL_WARNING * spool["cap_bytes"]:
        warn.append(f"the spool is {spool['bytes'] * 100 // spool['cap_bytes']}% full")
    stranded = data["stranded_dead_letters"]
    if stranded["records"]:
        bad.append(
            f"{stranded['records']} alert(s) kept in {stranded['directory']} while the spool directory was missing: "
            f"once the spool is back, move those files into {os.path.join(settings.spool_dir, DEAD_LETTER)}/ and run "
            "`wazuh-ocsf dead-letter replay`"
        )
    if spool and spool["dead_letter_records"]:
        warn.append(
            f"{spool['dead_letter_records']} dead-letter record(s): see `wazuh-ocsf dead-letter list`, "
            "fix the cause, then `wazuh-ocsf dead-letter replay`"
        )
    if spool and spool["dropped_events"]:
        warn.append(f"{spool['dropped_events']} events were dropped by the drop-oldest policy")
    if success is None and not failure:
        warn.append("no flush has run yet")
    beat = data["follow"]
    if beat and not beat.get("stopped") and data["time"] - beat["time"] > FOLLOW_STALE_BEATS * beat["interval"]:
        warn.append(
            f"the follower (pid {beat.get('pid')}) sent no heartbeat for {_duration(data['time'] - beat['time'])}: "
            "is wazuh-ocsf-follow running? see `systemctl status wazuh-ocsf-follow` and logs/wazuh-ocsf.log"
        )
    lag_problems(data, settings, bad, warn)
    return bad, warn


def _stranded_dead_letters(settings: Settings) -> dict:
    """Alerts the hook kept beside the log because the spool directory was missing (see ``hook``)."""
    directory = os.path.join(settings.wazuh_home, FALLBACK_RELPATH)
    return {"directory": os.path.join(directory, DEAD_LETTER), "records": dead_letter.count(directory)}


def _follow_heartbeat(settings: Settings) -> dict | None:
    """The follower's last heartbeat (``state/follow-heartbeat.json``), or None when it never ran."""
    from wazuh_ocsf.readers.follow import HEARTBEAT

    beat = read_json_state(os.path.join(settings.spool_dir, STATE, HEARTBEAT))
    return beat if isinstance(beat.get("time"), (int, float)) else None


def gap_fill_summary(spool_dir: str, now: float) -> dict:
    """The scheduled gap fill's record: its last run and the alerts it filled in the last day."""
    state = gap_fill.load(spool_dir)
    return {
        "last_run": state.get("last_run"),
        "missed_last_day": gap_fill.missed_since(state, now - gap_fill.HISTORY_SECONDS),
    }


def lag_problems(data: dict, settings: Settings, bad: list, warn: list) -> None:
    """Judge the lag behind alerts.json and what the gap fill found (appends to ``bad``/``warn``)."""
    behind = data["lag"]
    if behind["error"]:
        warn.append(f"cannot measure the lag behind alerts.json: {behind['error']}")
    elif behind["behind_alerts"] and behind["behind_seconds"] > settings.lag_max_age:
        who = "integratord" if behind["mode"] == lag.HOOK else "follow"
        bad.append(
            f"{who} is {_behind_text(behind)} behind alerts.json (threshold WAZUH_OCSF_LAG_MAX_AGE="
            f"{_duration(settings.lag_max_age)}): alerts wait, and a restart of {who} while behind loses them "
            "until the gap fill runs; see `wazuh-ocsf doctor`"
        )
    missed = data["gap_fill"]["missed_last_day"]
    if missed:
        warn.append(
            f"integratord missed {missed} alert{'s' * (missed != 1)} in the last day (the gap fill spooled them): "
            "it falls behind or restarts while behind; see `wazuh-ocsf doctor` about --mode follow"
        )


def _behind_text(behind: dict) -> str:
    count = behind["behind_alerts"]
    at_least = "" if behind["exact"] else "at least "
    return f"{at_least}{count} alert{'s' * (count != 1)} ({_duration(behind['behind_seconds'])})"


def render_lag(data: dict) -> list:
    """The lag and gap-fill lines of the human report."""
    behind, filled = data["lag"], data["gap_fill"]
    now = data["time"]
    if behind["mode"] is None:
        text = "no custom-wazuh-ocsf block in ossec.conf and no follow state: nothing reads alerts.json"
    elif behind["error"]:
        text = f"{behind['mode']} mode: unknown ({behind['error']})"
    else:
        state = _behind_text(behind) + " behind" if behind["behind_alerts"] else "caught up"
        text = f"{behind['mode']} mode: {state}"
        if behind["position_time"]:
            text += f"; newest alert handed over {_when(behind['position_time'], now)}"
    lines = [f"  lag             {text}"]
    if behind["mode"] == lag.HOOK:
        run = filled["last_run"] or {}
        text = f"integratord missed {filled['missed_last_day']} alerts in the last day; "
        text += f"last run {_when(run.get('time'), now)}"
        if run.get("skipped"):
            text += f" (skipped: {run['skipped']})"
        lines.append(f"  gap fill        {text}")
    return lines


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def human_size(size: int) -> str:
    """A byte count for people: ``512 B``, ``1.5 KiB``, ``3.2 GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def _when(stamp: float | None, now: float) -> str:
    if not stamp:
        return "never"
    text = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))
    return f"{text} ({_duration(max(0.0, now - stamp))} ago)"


def render(data: dict) -> str:
    """The human report: a verdict line, then each section's lines, then the masked config."""
    lines = [f"wazuh-ocsf status: {'healthy' if data['healthy'] else 'UNHEALTHY'}"]
    for section in SECTIONS:
        lines += section(data)
    return "\n".join(lines)


def _spool_lines(data: dict) -> list:
    spool = data["spool"]
    if not spool:
        return [f"  spool           unavailable: {data['spool_error']}"]
    oldest = f"; oldest event {_duration(spool['oldest_age'])} old" if spool["oldest_age"] is not None else ""
    segments = spool["sealed_segments"] + (1 if spool["active_segment"] else 0)
    return [
        f"  backlog         {spool['events']} events in {segments} segment{'s' * (segments != 1)}, "
        f"{human_size(spool['bytes'])} ({spool['bytes'] * 100 // max(1, spool['cap_bytes'])}% "
        f"of the {human_size(spool['cap_bytes'])} cap){oldest}",
        f"  spool           {spool['directory']} (node {spool['node']})",
    ]


def _flush_lines(data: dict) -> list:
    now = data["time"]
    delivery = data["last_delivery"] or {}
    text = _when(delivery.get("time"), now)
    if delivery:
        text += (
            f": {delivery['events']} events in {delivery['objects']} object{'s' * (delivery['objects'] != 1)} "
            f"({human_size(delivery['bytes'])}) to {', '.join(sorted(delivery['destinations']))}"
        )
        if not delivery.get("complete", True):
            text += " (that flush left segments unsent)"
    success = data["flush"].get("last_success") or {}
    failure = data["flush"].get("last_failure") or {}
    ok = _when(success.get("time"), now)
    if success:
        ok += f": {success.get('events', 0)} events in {success.get('objects', 0)} objects"
    bad = _when(failure.get("time"), now)
    if failure:
        bad += f": {failure.get('reason')}"
    return [f"  last delivery   {text}", f"  last success    {ok}", f"  last failure    {bad}"]


def _dead_letter_lines(data: dict) -> list:
    spool = data["spool"]
    if not spool:
        return []
    count = spool["dead_letter_records"]
    return [
        f"  dead letters    {count} record{'s' * (count != 1)}",
        f"  refused at cap  {spool['refused_events']} events (policy {spool['full_policy']}); "
        f"dropped {spool['dropped_events']} events in {spool['dropped_segments']} segments",
    ]


def _follow_lines(data: dict) -> list:
    beat = data["follow"]
    if not beat:
        return []
    stopped = bool(beat.get("stopped"))
    state = "stopped" if stopped else "running"
    where = f", reading {beat['reading']} at offset {beat['offset']}" if beat.get("reading") and not stopped else ""
    return [
        f"  follow          {state} (pid {beat.get('pid')}), last heartbeat {_when(beat['time'], data['time'])}"
        f"{where}; {beat.get('spooled', 0)} alerts spooled since {_when(beat.get('started'), data['time'])}"
    ]


def _destination_lines(data: dict) -> list:
    lines = []
    for index, (name, places) in enumerate(sorted(data["destinations"].items())):
        label = "  destinations    " if index == 0 else " " * 18
        marker = " (configured class)" if name == data["ocsf_class"] else ""
        if data.get("routing"):
            marker = " (auto: finding class)" if name == data["ocsf_class"] else ""
            marker += " (auto: routed)" if name in data["active_routes"] else ""
            marker += " (auto: route inactive, its alerts go to the finding class)" if name in data[
                "inactive_routes"] else ""
        lines.append(f"{label}{name}{marker}: {', '.join(places) if places else 'none'}")
    return lines


def _verdict_lines(data: dict) -> list:
    return [f"PROBLEM: {p}" for p in data["problems"]] + [f"warning: {w}" for w in data["warnings"]]


def _config_lines(data: dict) -> list:
    lines = [f"config {data['config_path']} (secrets masked; the rest at defaults, see --json):"]
    lines += [f"  {key}={data['config'][key]}" for key in data["config_set"]]
    return lines


#: The report's sections in order; each turns the collected data into lines.
SECTIONS = (
    _spool_lines,
    _flush_lines,
    _dead_letter_lines,
    render_lag,
    _follow_lines,
    _destination_lines,
    _verdict_lines,
    _config_lines,
)
