"""Run the real integration as wazuh-integratord does: its file, a temp alert file, its argv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# The integration integratord runs: one Python file (installed with an ``-IS`` shebang).
INTEGRATION = REPO_ROOT / "integrations" / "custom-wazuh-ocsf"
SEED = REPO_ROOT.parent / "shared" / "wazuh" / "seed_sample_alerts.ndjson"
PYTHON39 = "/root/.pyenv/versions/3.9.18/bin/python3.9"
REDIRECT = "> /dev/null 2>&1"

SAMPLE_ALERT = {
    "timestamp": "2024-04-22T14:20:41.218+0000",
    "rule": {"level": 5, "description": "sshd: authentication failed.", "id": "5760", "groups": ["syslog", "sshd"]},
    "agent": {"id": "001", "name": "web-01", "ip": "10.0.0.5"},
    "manager": {"name": "wazuh-manager"},
    "id": "1713795641.1000",
    "full_log": "Apr 22 14:20:41 web-01 sshd[1234]: Failed password for root from 192.0.2.7 port 50022 ssh2",
    "decoder": {"name": "sshd"},
    "data": {"srcip": "192.0.2.7", "srcuser": "root"},
    "location": "/var/log/auth.log",
}


def alert_bytes(alert: dict) -> bytes:
    """An alert as integratord writes it: one JSON line."""
    return (json.dumps(alert, separators=(",", ":")) + "\n").encode()


def numbered_alert(number: int, worker: int = 0) -> dict:
    """A distinct alert (its own ``id``) for the concurrency tests."""
    alert = json.loads(json.dumps(SAMPLE_ALERT))
    alert["id"] = f"{1713795641 + number}.{worker * 100000 + number}"
    return alert


class Home:
    """A fake Wazuh home: etc/wazuh-ocsf.conf, logs/, the spool, alert and options files."""

    def __init__(self, root: Path, **settings) -> None:
        self.root = root
        self.spool = root / "spool"
        self.logs = root / "logs"
        for directory in (root / "etc", self.logs, self.spool):
            directory.mkdir(parents=True, exist_ok=True)
        values = {"spool_dir": str(self.spool), "node_name": "node-1", **settings}
        self.write_config(**values)
        self.counter = 0

    def write_config(self, **values) -> None:
        lines = [f"WAZUH_OCSF_{key.upper()}={value}" for key, value in values.items()]
        (self.root / "etc" / "wazuh-ocsf.conf").write_text("\n".join(lines) + "\n")

    @property
    def log(self) -> Path:
        return self.logs / "integrations.log"

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def alert_file(self, data: bytes) -> Path:
        """Like integratord: /tmp/<name>-<epoch>-<rand>.alert (here under the home)."""
        self.counter += 1
        path = self.root / f"custom-wazuh-ocsf-1713795641-{self.counter}.alert"
        path.write_bytes(data)
        return path

    def options_file(self, options) -> Path:
        self.counter += 1
        path = self.root / f"custom-wazuh-ocsf-1713795641-{self.counter}.options"
        path.write_text(options if isinstance(options, str) else json.dumps(options))
        return path

    def env(self, python: str | None = None, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WAZUH_OCSF_", "PYTHON"))}
        env["WAZUH_OCSF_WAZUH_HOME"] = str(self.root)
        env["WAZUH_OCSF_PYTHON"] = python or os.path.realpath(sys.executable)
        env.update(extra)
        return env

    def run(self, args: list, *, python: str | None = None, env: dict | None = None, **kwargs):
        """Run the integration with integratord's argv (no shell, stdin /dev/null, cwd the home)."""
        return subprocess.run(
            [str(INTEGRATION), *map(str, args)],
            env=env or self.env(python),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=60,
            **kwargs,
        )

    def spooled(self) -> list:
        """Every spooled event (decoded), oldest segment first."""
        from wazuh_ocsf.spool.line import decode_line

        segments = self.spool / "segments"
        if not segments.is_dir():
            return []
        events = []
        for path in sorted(segments.iterdir()):
            if path.name.startswith("."):
                continue
            events.extend(decode_line(raw) for raw in path.read_bytes().splitlines())
        return events

    def dead_letters(self) -> list:
        from wazuh_ocsf.spool import dead_letter

        return list(dead_letter.iter_records(str(self.spool)))


def finding_uid_of(event: dict) -> str:
    """Security Finding 1.1.0 keeps it in ``finding``, Detection Finding in ``finding_info``."""
    return (event.get("finding") or event.get("finding_info"))["uid"]


def argv_48(alert: Path, *, debug: bool = False, options: Path | str = "", api_key: str = "", hook_url: str = ""):
    """integratord 4.8-4.14."""
    return [alert, api_key, hook_url, "debug" if debug else "", options, "10", "3", REDIRECT]
