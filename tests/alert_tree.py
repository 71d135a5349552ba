"""Build realistic ``logs/alerts`` trees for the reader, backfill and follow tests.

Alerts look like what wazuh-analysisd writes to alerts.json: compact JSON, ``timestamp``
first, ``id`` = ``<epoch>.<offset>``, one per line. Archives follow the manager's naming
(``<YYYY>/<Mon>/ossec-alerts-<DD>[-<NNN>].json[.gz]``) and ``alerts.json`` is a hard link
to the file being written, as analysisd makes it.
"""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from wazuh_ocsf.readers.alerts import MONTHS

NODE = "wazuh-server"


def alert(moment: datetime, number: int, *, level: int = 5, groups=("syslog", "sshd"), rule_id="5716") -> dict:
    """One alert at ``moment`` (UTC), distinguished by ``number``."""
    stamp = moment.astimezone(timezone.utc)
    return {
        "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000",
        "rule": {
            "level": level,
            "description": "sshd: authentication failed.",
            "id": rule_id,
            "firedtimes": number,
            "mail": False,
            "groups": list(groups),
            "mitre": {"id": ["T1110.001"], "tactic": ["Credential Access"], "technique": ["Password Guessing"]},
        },
        "agent": {"id": "001", "name": "web-01", "ip": "10.0.0.5"},
        "manager": {"name": NODE},
        "id": f"{int(stamp.timestamp())}.{number}",
        "full_log": f"Apr 22 14:20:46 web-01 sshd[{1000 + number}]: Failed password for root from 203.0.113.7 "
        f"port {40000 + number} ssh2",
        "predecoder": {"program_name": "sshd", "timestamp": "Apr 22 14:20:46", "hostname": "web-01"},
        "decoder": {"parent": "sshd", "name": "sshd"},
        "data": {"srcip": "203.0.113.7", "srcport": str(40000 + number), "dstuser": "root"},
        "location": "/var/log/auth.log",
    }


def line(item: dict) -> bytes:
    """An alert as analysisd writes it: compact JSON and a newline."""
    return json.dumps(item, separators=(",", ":")).encode() + b"\n"


def uid(item: dict) -> str:
    """The finding uid the mapper gives this alert."""
    from wazuh_ocsf.mapping import finding_uid

    return finding_uid(item)


def day_path(alerts_dir: Path, day: datetime, counter: int | None = None, *, gz: bool = False) -> Path:
    """``<alerts>/<YYYY>/<Mon>/ossec-alerts-<DD>[-<NNN>].json[.gz]``."""
    name = f"ossec-alerts-{day.day:02d}" + (f"-{counter:03d}" if counter is not None else "") + ".json"
    return alerts_dir / f"{day.year}" / MONTHS[day.month - 1] / (name + (".gz" if gz else ""))


def write_day(path: Path, data: bytes) -> Path:
    """Write an archive, gzipped when its name says so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)
    return path


def link_live(alerts_dir: Path, path: Path) -> Path:
    """Make ``alerts.json`` a hard link to ``path``, as analysisd does at each rotation."""
    live = alerts_dir / "alerts.json"
    if live.exists() or live.is_symlink():
        live.unlink()
    os.link(path, live)
    return live


def day_alerts(day: datetime, count: int, first_number: int = 1, step=timedelta(minutes=7)) -> list:
    """``count`` alerts spread over ``day`` from 00:05 UTC."""
    start = day.replace(hour=0, minute=5, second=0, microsecond=0, tzinfo=timezone.utc)
    return [alert(start + i * step, first_number + i) for i in range(count)]
