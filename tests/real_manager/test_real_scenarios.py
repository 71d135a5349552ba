"""What the real manager does to wazuh-ocsf, counted: integratord's filters against ``follow``'s,
an alert the hook rejects, integratord's gaps filled by ``backfill``, ``follow`` stopped and
restarted. The alerts are the session's real ruleset alerts, replayed through the real
``wazuh-integratord`` (it tails ``alerts.json`` as on a manager; analysisd is not restarted).
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from . import manager_kit
from .manager_kit import Manager, integratord

pytest.importorskip("pyarrow")


def alert_ids(events: list) -> Counter:
    return Counter(e["metadata"]["uid"] for e in events)


def delivered_ids(directory: Path) -> Counter:
    """Alert ids of every row the local sink holds."""
    import pyarrow.parquet as pq

    ids: Counter = Counter()
    for path in directory.rglob("*.parquet"):
        ids.update(row["uid"] for row in pq.read_table(path, columns=["metadata"]).column("metadata").to_pylist())
    return ids


def spread(alerts: list, groups: int, size: int) -> list:
    """``groups`` disjoint lists of ``size`` alerts, each spread over the whole run (many rules and levels)."""
    picked = alerts[:: max(1, len(alerts) // (groups * size))][: groups * size]
    assert len(picked) == groups * size
    return [picked[g::groups] for g in range(groups)]


def wait_for(predicate, *, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def follow_spool(manager: Manager) -> Path:
    """A second spool for ``follow`` beside the hook's, owned by wazuh (the follower switches to its owner)."""
    spool = manager.home.parent / "follow-spool"
    shutil.rmtree(spool, ignore_errors=True)
    spool.mkdir(mode=0o750)
    shutil.chown(spool, "wazuh", "wazuh")
    return spool


def start_follow(manager: Manager, spool: Path, env: dict | None = None):
    """``wazuh-ocsf follow`` into ``spool``; returns once it has ``alerts.json`` open."""
    process = manager.start_cli("follow", "--poll", "0.2", env={"WAZUH_OCSF_SPOOL_DIR": str(spool), **(env or {})},
                                log=manager.home.parent / "follow.log")
    wait_for(lambda: manager_kit.alerts_fd(process.pid) is not None or process.poll() is not None,
             what="follow to open alerts.json")
    assert process.poll() is None, (manager.home.parent / "follow.log").read_text()
    time.sleep(0.5)  # it positions itself at the end after opening
    return process


def stop(process) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


# -- filters: integratord's selection == follow's --------------------------------------------------

FILTERS = [
    pytest.param({"--level": "10"}, {"WAZUH_OCSF_FOLLOW_LEVEL": "10"},
                 lambda a: a["rule"]["level"] >= 10, id="level"),
    pytest.param({"--group-filter": "authentication_failed,sshd"},
                 {"WAZUH_OCSF_FOLLOW_GROUP": "authentication_failed,sshd"},
                 lambda a: {"authentication_failed", "sshd"} & set(a["rule"].get("groups", ())), id="group"),
    pytest.param({"--rule-id": "5710,5760,31508"}, {"WAZUH_OCSF_FOLLOW_RULE_ID": "5710,5760,31508"},
                 lambda a: a["rule"]["id"] in {"5710", "5760", "31508"}, id="rule_id"),
]


@pytest.mark.parametrize(("installer_args", "follow_env", "expected"), FILTERS)
def test_follow_selects_exactly_what_integratord_selects(manager, ruleset_alerts, installer_args, follow_env,
                                                         expected):
    manager.install(*[part for pair in installer_args.items() for part in pair])
    spool = follow_spool(manager)
    try:
        follower = start_follow(manager, spool, follow_env)
        with integratord(manager) as daemon:
            daemon.append(ruleset_alerts)
            daemon.wait_idle()
        by_hook = alert_ids(manager.spooled_events())
        wait_for(lambda: sum(alert_ids(manager.spooled_events(spool)).values()) >= sum(by_hook.values()),
                 timeout=120, what="follow to catch up")
        assert stop(follower) == 0
    finally:
        manager.restore()
    by_follow = alert_ids(manager.spooled_events(spool))
    wanted = Counter(a["id"] for a in ruleset_alerts if expected(a))
    assert 0 < sum(by_hook.values()) < len(ruleset_alerts)  # the filter selects, and not everything
    assert by_hook == wanted
    assert by_follow == by_hook


# -- a rejected alert: dead letter, integratord goes on, replay delivers ---------------------------


def test_alert_rejected_by_a_broken_config_is_kept_and_replayed(manager, ruleset_alerts):
    before, during, after = spread(ruleset_alerts, 3, 20)
    config = manager.config.read_bytes()
    with integratord(manager) as daemon:
        daemon.append(before)
        daemon.wait_idle()
        manager.config.write_bytes(config + b"WAZUH_OCSF_OCSF_CLASS=no-such-class\n")  # an admin's typo
        daemon.append(during)
        daemon.wait_idle()
        manager.config.write_bytes(config)
        daemon.append(after)
        daemon.wait_idle()
    assert alert_ids(manager.spooled_events()) == Counter(a["id"] for a in before + after)
    kept = json.loads(manager.cli("dead-letter", "list", "--json").stdout)
    assert len(kept) == len(during)
    assert all("no-such-class" in record["reason"] for record in kept), kept[:2]

    manager.cli("dead-letter", "replay")
    manager.cli("flush")
    assert json.loads(manager.cli("dead-letter", "list", "--json").stdout) == []
    assert delivered_ids(manager.output_dir) == Counter(a["id"] for a in before + during + after)


# -- integratord's gaps: backfill finds and fills them, once ---------------------------------------


def test_backfill_fills_what_integratord_never_ran_the_hook_for(manager, ruleset_alerts):
    first, missed, last = spread(ruleset_alerts, 3, 25)
    with integratord(manager) as daemon:
        daemon.append(first)
        daemon.wait_idle()
    # integratord is down (a restart, a crash): analysisd goes on writing alerts.json
    manager_kit.Integratord(manager).append(missed)
    with integratord(manager) as daemon:  # it starts at the END of alerts.json: `missed` never reaches the hook
        daemon.append(last)
        daemon.wait_idle()
    assert alert_ids(manager.spooled_events()) == Counter(a["id"] for a in first + last)
    manager.cli("flush")

    since = min(a["timestamp"] for a in manager.alerts())[:19]
    done = manager.cli("backfill", "--since", since, "--json")
    assert json.loads(done.stdout)["spooled"] == len(missed), done.stdout
    again = manager.cli("backfill", "--since", since, "--json")
    assert json.loads(again.stdout)["spooled"] == 0, again.stdout
    manager.cli("flush")
    in_alerts_json = Counter(a["id"] for a in manager.alerts())
    assert sum(in_alerts_json.values()) == len(first + missed + last)
    assert delivered_ids(manager.output_dir) == in_alerts_json


# -- follow stopped with SIGTERM and restarted: every alert once -----------------------------------


def test_follow_restarted_spools_every_alert_once(manager, ruleset_alerts):
    chunks = spread(ruleset_alerts, 4, 60)
    spool = follow_spool(manager)
    writer = manager_kit.Integratord(manager)  # only its append(): alerts.json written as analysisd does
    follower = start_follow(manager, spool)
    writer.append(chunks[0])
    time.sleep(0.3)
    writer.append(chunks[1])  # SIGTERM while it may be mid-batch
    assert stop(follower) == 0
    writer.append(chunks[2])  # written while follow is down
    follower = start_follow(manager, spool)
    writer.append(chunks[3])
    total = sum(len(c) for c in chunks)
    wait_for(lambda: sum(alert_ids(manager.spooled_events(spool)).values()) >= total, timeout=120,
             what="follow to spool every alert")
    time.sleep(1)
    assert stop(follower) == 0
    spooled = manager.spooled_events(spool)
    assert Counter(e["finding"]["uid"] for e in spooled).most_common(1)[0][1] == 1
    assert alert_ids(spooled) == Counter(a["id"] for c in chunks for a in c)
