"""The flusher's schedule: a systemd service + timer pair, or a cron line where there is no systemd."""

from __future__ import annotations

import os
import re

from wazuh_ocsf_installer.errors import UsageError

SERVICE = "wazuh-ocsf-flush.service"
TIMER = "wazuh-ocsf-flush.timer"
UNIT_DIR = "/etc/systemd/system"
CRON_FILE = "/etc/cron.d/wazuh-ocsf"
#: The first line of every file the installer writes here; uninstall removes only files that carry it.
MARKER = "# Installed by the wazuh-ocsf installer (installer/install.sh): re-run it to change, --uninstall to remove."
DEFAULT_INTERVAL = 300
_INTERVAL_RE = re.compile(r"(\d+)\s*([smh]?)")


def parse_interval(text: str) -> int:
    """``300``, ``300s``, ``5m``, ``1h`` → seconds (at least 60)."""
    match = _INTERVAL_RE.fullmatch(text.strip().lower())
    if not match:
        raise UsageError(f"--flush-interval: expected e.g. 300, 5m or 1h, got {text!r}")
    seconds = int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if seconds < 60:
        raise UsageError(f"--flush-interval: at least one minute, got {text!r}")
    return seconds


def view_command(venv: str, view: str) -> str:
    """Shell command that writes ``status --json`` to ``view`` atomically (group-readable, 0640)."""
    temp = os.path.join(os.path.dirname(view), ".status.json.new")
    return f"umask 027; {venv}/bin/wazuh-ocsf status --json > {temp}; mv -f {temp} {view}"


def render_service(*, home: str, venv: str, config: str, user: str, group: str, view: str | None = None) -> str:
    """``wazuh-ocsf-flush.service``: one flush as the Wazuh user, settings from the config file.

    ``view``: after every flush (failed or not) also write the status view there (``--monitor-group``).
    """
    after = f"ExecStopPost=-/bin/sh -c '{view_command(venv, view)}'\n" if view else ""
    return f"""{MARKER}
[Unit]
Description=wazuh-ocsf: flush spooled Wazuh alerts to Amazon Security Lake as OCSF Parquet
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
User={user}
Group={group}
EnvironmentFile={config}
Environment=WAZUH_OCSF_CONFIG={config}
WorkingDirectory={home}
# The gap fill (issue #17): spool what integratord skipped, before the flush; never fails the flush.
ExecStartPre=-{venv}/bin/wazuh-ocsf backfill --recent
ExecStart={venv}/bin/wazuh-ocsf flush
{after}Nice=10
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=full
"""


def render_timer(interval: int) -> str:
    """``wazuh-ocsf-flush.timer``: the service every ``interval`` seconds, a minute after start or boot."""
    return f"""{MARKER}
[Unit]
Description=wazuh-ocsf: flush spooled alerts every {interval} seconds

[Timer]
OnActiveSec=60
OnBootSec=60
OnUnitActiveSec={interval}
AccuracySec=15
Unit={SERVICE}

[Install]
WantedBy=timers.target
"""


def cron_schedule(interval: int) -> str:
    """The five cron time fields for ``interval`` seconds; refuse intervals cron cannot express."""
    minutes, rest = divmod(interval, 60)
    if rest:
        raise UsageError(f"--flush-interval: cron runs whole minutes; {interval}s is not (use systemd or e.g. 5m)")
    if minutes < 60:
        if 60 % minutes:
            raise UsageError(
                f"--flush-interval: cron needs a divisor of 60 minutes, got {minutes}m (e.g. 5m, 10m, 15m)"
            )
        return f"*/{minutes} * * * *" if minutes > 1 else "* * * * *"
    hours, rest = divmod(minutes, 60)
    if rest or 24 % hours:
        raise UsageError(f"--flush-interval: cron needs whole hours dividing 24 above one hour, got {minutes}m")
    return f"0 */{hours} * * *" if hours > 1 else "0 * * * *"


def render_cron(*, interval: int, venv: str, config: str, user: str, view: str | None = None) -> str:
    """``/etc/cron.d/wazuh-ocsf``: the flush every ``interval`` as the Wazuh user, summary to syslog."""
    after = f"; {view_command(venv, view)}" if view else ""
    return f"""{MARKER}
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WAZUH_OCSF_CONFIG={config}
{cron_schedule(interval)} {user} {venv}/bin/wazuh-ocsf flush 2>&1 | logger -t wazuh-ocsf-flush{after}
{cron_schedule(interval)} {user} {venv}/bin/wazuh-ocsf backfill --recent 2>&1 | logger -t wazuh-ocsf-gap-fill
"""


def is_ours(text: str | None) -> bool:
    """Whether a unit or cron file was written by the installer."""
    return bool(text) and text.startswith(MARKER)
