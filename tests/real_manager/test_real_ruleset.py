"""Every alert analysisd makes from Wazuh's ruleset tests reaches the hook, is spooled, and after
``wazuh-ocsf flush`` arrives exactly once in the local sink and in Security Lake's bucket (moto's
S3/STS/IAM server, AssumeRole with the external id), every row valid OCSF 1.1.0, both classes.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from . import manager_kit
from .lake_delivery import alert_id, deliver, finding_uid

pytest.importorskip("pyarrow")
jsonschema = pytest.importorskip("jsonschema")
ocsf_json_schema = pytest.importorskip("ocsf_json_schema")

from ocsf_events import ocsf_validators  # noqa: E402

#: Alerts replayed through integratord as Detection Findings (a spread sample: it costs one
#: hook process per alert; the whole corpus is mapped to both classes by tests/test_real_corpus.py).
DETECTION_SAMPLE = 300


@pytest.fixture(scope="module")
def validators():
    return ocsf_validators()


@pytest.fixture(scope="module")
def detection_run(_shared_manager, ruleset_alerts, real_lake) -> tuple:
    """A spread sample of the alerts through the real integratord into the home set to Detection
    Finding, flushed: (alerts fed, events spooled, delivery)."""
    manager = _shared_manager
    manager.reset()
    alerts = ruleset_alerts[:: max(1, len(ruleset_alerts) // DETECTION_SAMPLE)]
    manager.install("--ocsf-class", "detection_finding")
    try:
        manager_kit.feed(manager, alerts)
        spooled = manager.spooled_events()
    finally:
        manager.restore()
    return alerts, spooled, deliver(manager, real_lake, ocsf_class="detection_finding")


def test_the_ruleset_makes_enough_real_alerts(ruleset_run):
    """The run is what it claims: ~2,000 lines, over a thousand alerts from hundreds of rules."""
    alerts = ruleset_run.alerts
    assert len(alerts) > 1000, ruleset_run.output
    assert len({a["rule"]["id"] for a in alerts}) > 300
    assert len({a["id"] for a in alerts}) == len(alerts)
    assert "fed 19" in ruleset_run.output  # 1,9xx lines fed (ini_to_lines: every 'pass' line)


def test_every_alert_reaches_the_hook_and_is_spooled_once(ruleset_run):
    assert Counter(alert_id(e) for e in ruleset_run.spooled) == Counter(a["id"] for a in ruleset_run.alerts)


def test_the_other_tool_got_exactly_its_alerts(ruleset_run):
    """integratord ran both integrations: the other tool's filter is untouched by the install."""
    expected = sorted(a["id"] for a in ruleset_run.alerts if a["rule"]["id"] == "5718")
    assert expected
    assert sorted(json.loads(line)["id"] for line in ruleset_run.echoed) == expected


def test_flush_delivers_every_alert_exactly_once_to_both_sinks(ruleset_run):
    delivered = ruleset_run.delivered
    expected = Counter(a["id"] for a in ruleset_run.alerts)
    for objects in (delivered.local, delivered.bucket):
        events = delivered.events(objects)
        assert Counter(alert_id(e) for e in events) == expected
        assert len({finding_uid(e) for e in events}) == len(events)
        assert {e["class_uid"] for e in events} == {2001}
    assert sorted(Path(k).name for k in delivered.local) == sorted(Path(k).name for k in delivered.bucket)
    assert f"{len(expected)} events" in delivered.output, delivered.output


def test_detection_findings_through_the_real_integratord(detection_run):
    alerts, spooled, delivered = detection_run
    expected = Counter(a["id"] for a in alerts)
    assert Counter(alert_id(e) for e in spooled) == expected
    for objects in (delivered.local, delivered.bucket):
        events = delivered.events(objects)
        assert Counter(alert_id(e) for e in events) == expected
        assert {e["class_uid"] for e in events} == {2004}


@pytest.mark.parametrize("which", ["security_finding", "detection_finding"])
def test_every_delivered_row_validates_against_ocsf_1_1_0(which, request, validators):
    if which == "security_finding":
        delivered, class_uid = request.getfixturevalue("ruleset_run").delivered, 2001
    else:
        delivered, class_uid = request.getfixturevalue("detection_run")[2], 2004
    events = delivered.events(delivered.bucket)
    assert events
    failures = []
    for event in events:
        validator = validators(class_uid, tuple(event["metadata"].get("profiles", ())))
        failures += [f"{finding_uid(event)}: {'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"
                     for error in validator.iter_errors(event)]
    assert failures[:20] == []
