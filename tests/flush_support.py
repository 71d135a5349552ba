"""Helpers for the flusher's tests and benchmark: corpus events, spools, settings, reading trees."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from wazuh_ocsf.config import load_settings
from wazuh_ocsf.flush.delivered_index import UID_PATHS
from wazuh_ocsf.mapping import load_alert, map_alert
from wazuh_ocsf.spool.line import encode_event
from wazuh_ocsf.spool.store import Spool

ALERTS_DIR = Path(__file__).resolve().parent / "data" / "alerts"
DAY_MS = 86_400_000


def corpus_events(class_uid: int = 2001) -> list:
    """Every alert of tests/data/alerts mapped to ``class_uid``, in file name order."""
    events = []
    for path in sorted(ALERTS_DIR.glob("*.json")):
        events.append(map_alert(load_alert(path.read_bytes()), class_uid=class_uid))
    return events


def uid_of(event: dict) -> str:
    """The finding uid of an OCSF event of any class."""
    parent, child = UID_PATHS[event["class_uid"]]
    return event[parent][child]


def varied(event: dict, number: int, *, time_ms: int | None = None) -> dict:
    """A copy of ``event`` with a unique finding uid (``<uid>#<number>``) and, optionally, a new time."""
    event = copy.deepcopy(event)
    parent, child = UID_PATHS[event["class_uid"]]
    event[parent][child] = f"{event[parent][child]}#{number}"
    if time_ms is not None:
        event["time"] = time_ms
    return event


def make_events(count: int, *, class_uid: int = 2001, start_ms: int = 1713744000000, days: int = 3) -> list:
    """``count`` distinct events cycling through the corpus, spread over ``days`` UTC days."""
    templates = corpus_events(class_uid)
    step = days * DAY_MS // max(count, 1)
    # Times go backwards and forwards so sorting by time is really needed.
    return [
        varied(templates[i % len(templates)], i, time_ms=start_ms + ((i * 7919) % max(count, 1)) * step)
        for i in range(count)
    ]


def settings_env(tmp_path: Path, **extra: str) -> dict:
    """WAZUH_OCSF_* variables for a spool under ``tmp_path`` with source, region and account set."""
    environ = {
        "WAZUH_OCSF_WAZUH_HOME": str(tmp_path),
        "WAZUH_OCSF_CONFIG": str(tmp_path / "no-such.conf"),
        "WAZUH_OCSF_SPOOL_DIR": str(tmp_path / "spool"),
        "WAZUH_OCSF_NODE_NAME": "node-1",
        "WAZUH_OCSF_SECURITY_FINDING_SOURCE": "wazuh",
        "WAZUH_OCSF_DETECTION_FINDING_SOURCE": "wazuhdet",
        "WAZUH_OCSF_REGION": "eu-west-1",
        "WAZUH_OCSF_ACCOUNT_ID": "123456789012",
        "WAZUH_OCSF_SEGMENT_MAX_AGE": "0",
    }
    environ.update({f"WAZUH_OCSF_{key.upper()}": value for key, value in extra.items()})
    return environ


def make_settings(tmp_path: Path, **extra: str):
    """Settings from :func:`settings_env` (keyword arguments: other settings, by attribute name)."""
    return load_settings(environ=settings_env(tmp_path, **extra))


def spool_events(settings, events) -> Spool:
    """Append every event to the spool (made if missing) through the real Spool.append."""
    spool = Spool(settings, create=True)
    for event in events:
        spool.append(encode_event(event))
    return spool


def tree_uids(output_dir: Path) -> list:
    """Every finding uid in every Parquet file below ``output_dir`` (with repeats)."""
    import pyarrow.parquet as pq

    uids = []
    for path in sorted(output_dir.rglob("*.parquet")):
        table = pq.read_table(path)
        class_uid = table.column("class_uid")[0].as_py()
        parent, child = UID_PATHS[class_uid]
        uids.extend(row[child] for row in table.column(parent).to_pylist())
    return uids


def dumps(event: dict) -> str:
    """Compact JSON of an event, for messages."""
    return json.dumps(event, separators=(",", ":"))[:200]
