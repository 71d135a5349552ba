"""Helpers for the operations commands' tests: a manager's directory tree and CLI runs as processes."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALERTS = REPO / "tests" / "data" / "alerts"

OSSEC_BLOCK = """
<ossec_config>
  <!-- wazuh-ocsf -->
  <integration>
    <name>custom-wazuh-ocsf</name>
    <alert_format>json</alert_format>
    <level>3</level>
{extra}  </integration>
</ossec_config>
"""


def me() -> tuple:
    """The current user's and primary group's names (the manager's user in these tests)."""
    entry = pwd.getpwuid(os.geteuid())
    return entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name


def manager_tree(root: Path, *, config: dict, ossec_extra: str = "", block: bool = True) -> Path:
    """A Wazuh 4 manager's home as the installer leaves it, under ``root``; returns the home.

    ``etc/ossec.conf`` (the shipped default plus our block), ``etc/wazuh-ocsf.conf`` (0640),
    ``VERSION.json``, ``integrations/custom-wazuh-ocsf`` (0750), ``wazuh-ocsf/lib``
    (the package), ``wazuh-ocsf/venv`` (this test run's environment), ``logs/``, the spool,
    and a systemd timer enabled under ``root/systemd``.
    """
    home = root / "ossec"
    (home / "etc").mkdir(parents=True)
    (home / "logs").mkdir()
    shared = REPO.parent / "shared" / "wazuh"
    default_conf = (shared / "ossec-server.conf").read_text() if (shared / "ossec-server.conf").exists() else ""
    (home / "etc" / "ossec.conf").write_text(default_conf + (OSSEC_BLOCK.format(extra=ossec_extra) if block else ""))
    (home / "VERSION.json").write_text('{"version": "v4.14.7", "revision": "rc1"}\n')
    conf = home / "etc" / "wazuh-ocsf.conf"
    conf.write_text("# wazuh-ocsf settings\n" + "".join(f"{k}={v}\n" for k, v in config.items()))
    conf.chmod(0o640)
    integrations = home / "integrations"
    integrations.mkdir()
    shutil.copy(REPO / "integrations" / "custom-wazuh-ocsf", integrations / "custom-wazuh-ocsf")
    (integrations / "custom-wazuh-ocsf").chmod(0o750)
    (home / "wazuh-ocsf" / "lib").mkdir(parents=True)
    shutil.copytree(REPO / "wazuh_ocsf", home / "wazuh-ocsf" / "lib" / "wazuh_ocsf",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (home / "wazuh-ocsf" / "venv").symlink_to(sys.prefix)
    (home / "wazuh-ocsf" / "spool").mkdir(mode=0o750)
    systemd = root / "systemd"
    (systemd / "timers.target.wants").mkdir(parents=True)
    (systemd / "wazuh-ocsf-flush.service").write_text("[Service]\nExecStart=wazuh-ocsf flush\n")
    (systemd / "wazuh-ocsf-flush.timer").write_text("[Timer]\nOnCalendar=*:0/5\n")
    (systemd / "timers.target.wants" / "wazuh-ocsf-flush.timer").symlink_to("../wazuh-ocsf-flush.timer")
    (root / "cron").mkdir()
    return home


def clean_env(**extra: str) -> dict:
    """This process's environment without AWS_* and WAZUH_OCSF_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "WAZUH_OCSF_"))}
    env.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_MAX_ATTEMPTS": "1"})
    env.update(extra)
    return env


def cli(*args: str, env: dict, timeout: int = 120) -> subprocess.CompletedProcess:
    """``python -m wazuh_ocsf.cli ARGS`` as a process, as an administrator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "wazuh_ocsf.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(REPO),
    )


def run_hook(home: Path, alert: Path, env: dict) -> subprocess.CompletedProcess:
    """The installed integration run as integratord runs it (its path, argv, stdin closed)."""
    return subprocess.run(
        [str(home / "integrations" / "custom-wazuh-ocsf"), str(alert), "", "", "", "", "", "",
         "> /dev/null 2>&1"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(home),
    )
