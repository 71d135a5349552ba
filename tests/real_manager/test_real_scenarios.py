"""What the real manager does to wazuh-ocsf, counted: integratord's filters against ``follow``'s,
an alert the hook rejects, integratord's gaps filled by ``backfill``, ``follow`` stopped and
restarted. The alerts are the session's real ruleset alerts, replayed through the real
``wazuh-integratord`` (it tails ``alerts.json`` as on a manager; analysisd is not restarted).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from . import manager_kit
from .lake_delivery import alert_id
from .manager_kit import integratord

pytest.importorskip("pyarrow")


def alert_ids(events: list) -> Counter:
    return Counter(map(alert_id, events))


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
    spool = manager.make_spool("follow-spool")
    try:
        follower = manager.start_follow(spool, follow_env)
        with integratord(manager) as daemon:
            daemon.append(ruleset_alerts)
            daemon.wait_idle()
        by_hook = alert_ids(manager.spooled_events())
        manager_kit.wait_for(lambda: len(manager.spooled_events(spool)) >= sum(by_hook.values()), timeout=120)
        assert manager_kit.stop(follower) == 0
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
    manager.write_alerts(missed)
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
    spool = manager.make_spool("follow-spool")
    follower = manager.start_follow(spool)
    manager.write_alerts(chunks[0])
    time.sleep(0.3)
    manager.write_alerts(chunks[1])  # SIGTERM while it may be mid-batch
    assert manager_kit.stop(follower) == 0
    manager.write_alerts(chunks[2])  # written while follow is down
    follower = manager.start_follow(spool)
    manager.write_alerts(chunks[3])
    total = sum(len(c) for c in chunks)
    manager_kit.wait_for(lambda: len(manager.spooled_events(spool)) >= total, timeout=120)
    time.sleep(1)
    assert manager_kit.stop(follower) == 0
    spooled = manager.spooled_events(spool)
    assert Counter(e["finding"]["uid"] for e in spooled).most_common(1)[0][1] == 1
    assert alert_ids(spooled) == Counter(a["id"] for c in chunks for a in c)
