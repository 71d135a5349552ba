"""``--mode follow``: the long-running ``wazuh-ocsf follow`` service instead of the ossec.conf block.

The two modes are exclusive: in ``hook`` mode integratord runs the integration for each alert
(the ``<integration>`` block of ossec.conf); in ``follow`` mode a systemd service tails
``alerts.json`` itself and the block is gone. The installed unit file is the record of the mode:
a re-run without ``--mode`` keeps whichever is installed, and ``--uninstall`` knows what to stop.
"""

from __future__ import annotations

import os
import time

from wazuh_ocsf_installer.schedule import MARKER, UNIT_DIR

MODES = ("hook", "follow")
SERVICE = "wazuh-ocsf-follow.service"
UNIT = os.path.join(UNIT_DIR, SERVICE)
#: Where ``systemctl enable`` links the unit (``WantedBy=multi-user.target``); written by hand under ``--root``.
WANTS = os.path.join(UNIT_DIR, "multi-user.target.wants", SERVICE)
SECTION = "Follow service (systemd)"
#: ossec.conf ``<integration>`` filter tag → the setting that carries it in follow mode (same semantics).
FILTER_SETTINGS = {
    "level": "WAZUH_OCSF_FOLLOW_LEVEL",
    "group": "WAZUH_OCSF_FOLLOW_GROUP",
    "rule_id": "WAZUH_OCSF_FOLLOW_RULE_ID",
}


def render_service(*, venv: str, config: str, user: str, group: str, writable: list) -> str:
    """``wazuh-ocsf-follow.service``: ``wazuh-ocsf follow`` as the Wazuh user, restarted if it ever exits.

    ``writable`` are the only paths it may write (ProtectSystem=strict): the wazuh-ocsf directory,
    and the spool when it is configured elsewhere. It logs to the journal, not to ``<home>/logs``.
    """
    return f"""{MARKER}
[Unit]
Description=wazuh-ocsf follow: spool every Wazuh alert for Amazon Security Lake
After=wazuh-manager.service
Wants=wazuh-manager.service

[Service]
Type=simple
User={user}
Group={group}
EnvironmentFile={config}
Environment=WAZUH_OCSF_CONFIG={config}
ExecStart={venv}/bin/wazuh-ocsf follow
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=60
Restart=always
RestartSec=5
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths={" ".join(writable)}

[Install]
WantedBy=multi-user.target
"""


def writable_paths(base: str, spool_dir: str) -> list:
    """``base`` and, when it is not inside ``base``, the spool directory."""
    base = os.path.normpath(base)
    spool = os.path.normpath(spool_dir)
    return [base] if spool == base or spool.startswith(base + os.sep) else [base, spool]


def switch_advice(old: str, new: str, since: float) -> str:
    """What to run so that no alert is lost when the manager switches between the hook and the follower."""
    stamp = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(since))
    return (
        f"switching from {old} to {new} mode: integratord and the follower both start at the end of"
        " alerts.json, so the alerts written between the old path stopping and the new one starting"
        f" are read by neither. Once the {new} path runs, fill the gap (it skips what was already spooled"
        f" or delivered): wazuh-ocsf backfill --since {stamp}"
    )
