"""The installer's ``--uninstall`` on the real home: ``ossec.conf`` byte-identical to before the
install, and the real integratord starts cleanly afterwards and goes on running the other tool.

Runs last (see conftest.py): it removes the installation the ``manager`` fixture shares.
"""

from __future__ import annotations

import json

from . import manager_kit


def test_uninstall_restores_ossec_conf_and_integratord_runs_on(manager, ruleset_alerts):
    echoed_rule = [a for a in ruleset_alerts if a["rule"]["id"] == "5718"]
    others = [a for a in ruleset_alerts if a["rule"]["id"] != "5718"][:10]
    assert echoed_rule
    manager.install("--uninstall", "--purge", "--force")
    assert manager.ossec_conf.read_bytes() == manager.original_ossec_conf
    assert not (manager.home / "integrations" / manager_kit.INTEGRATION).exists()
    assert not manager.command.exists() and not manager.config.exists()
    for daemon in ("wazuh-integratord", "wazuh-analysisd"):
        manager_kit._run([manager.home / "bin" / daemon, "-t"], f"{daemon} -t after --uninstall")

    log_size = (manager.home / "logs" / "ossec.log").stat().st_size
    manager_kit.feed(manager, others + echoed_rule)
    echoed = (manager.home / "logs" / "custom-echo.log").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in echoed) == sorted(a["id"] for a in echoed_rule)
    with open(manager.home / "logs" / "ossec.log", encoding="utf-8", errors="replace") as handle:
        handle.seek(log_size)
        integratord_lines = [line for line in handle if "wazuh-integratord" in line]
    assert integratord_lines and not [line for line in integratord_lines if "ERROR" in line or "CRITICAL" in line]
