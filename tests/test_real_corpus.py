"""The corpus of real alerts: what the unmodified Wazuh v4.14.7 analysisd wrote to ``alerts.json``
for every ``log … pass`` line of Wazuh's own ruleset tests (``tests/data/real_alerts/``, see
SOURCES.md), run through the property tests the hand-made corpus runs through, both classes:
every alert maps, survives Arrow and Parquet unchanged, validates against the OCSF 1.1.0 JSON
Schema of its class, loses no value and holds no empty one.

Regenerate it from the real chain with ``WAZUH_OCSF_UPDATE_REAL_CORPUS=1 pytest tests/real_manager
-k real_corpus`` (root and the wazuh-daemons kit; see README "Real-manager tests").
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from ocsf_events import CLASS_UIDS, SETTINGS, scalars

# The hand-made corpus's "nothing lost" and "no empty value" checks, applied as they are.
from test_mapping_golden import _empties, _text

from wazuh_ocsf.config import DETECTION_FINDING, FINDING_CLASSES, ROUTED_CLASSES
from wazuh_ocsf.mapping import CLASS_NAMES, map_alert
from wazuh_ocsf.mapping.routing import route

REAL_CORPUS = Path(__file__).parent / "data" / "real_alerts" / "ruleset-v4.14.7.ndjson.gz"
INTEGRATORD_LIMIT = 64 * 1024


def load_real_corpus() -> list:
    with gzip.open(REAL_CORPUS, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


ALERTS = load_real_corpus()


def _alerts_of(class_uid: int) -> list:
    """Every alert for a finding class; for a routed class, the alerts ``auto`` sends to it."""
    if class_uid in FINDING_CLASSES:
        return ALERTS
    return [alert for alert in ALERTS if route(alert, DETECTION_FINDING, ROUTED_CLASSES) == class_uid]


# The finding classes, and each routed class the real alerts reach (the ruleset tests have
# authentication and FIM alerts, but no vulnerability-detector or SCA ones).
MAPPED_CLASSES = [uid for uid in CLASS_UIDS if _alerts_of(uid)]


@pytest.fixture(scope="module", params=MAPPED_CLASSES, ids=lambda uid: CLASS_NAMES[uid])
def mapped(request) -> tuple:
    """``(class_uid, alerts, events)``: the alerts of the class and their events, in the same order."""
    alerts = _alerts_of(request.param)
    return request.param, alerts, [map_alert(alert, class_uid=request.param, **SETTINGS) for alert in alerts]


def test_the_corpus_is_the_ruleset_run():
    """Over a thousand alerts of hundreds of rules, Windows eventchannel ones among them; each one
    line as analysisd writes it, under integratord's limit."""
    assert len(ALERTS) > 1000
    assert len({a["rule"]["id"] for a in ALERTS}) > 300
    assert len({a["id"] for a in ALERTS}) == len(ALERTS)
    assert any(a.get("decoder", {}).get("name") == "windows_eventchannel" or "win" in a.get("data", {})
               for a in ALERTS)
    with gzip.open(REAL_CORPUS, "rb") as handle:
        assert all(len(line) < INTEGRATORD_LIMIT for line in handle)


def test_every_real_alert_survives_arrow_and_parquet(mapped, tmp_path):
    pytest.importorskip("pyarrow", reason="pyarrow is needed for the Arrow schema")
    from ocsf_events import parquet_round_trip

    class_uid, _alerts, events = mapped
    assert parquet_round_trip(events, class_uid, tmp_path) == events


def test_every_real_alert_validates_against_ocsf_1_1_0(mapped):
    pytest.importorskip("jsonschema", reason="jsonschema is a test dependency")
    pytest.importorskip("ocsf_json_schema", reason="ocsf-json-schema is a test dependency")
    from ocsf_events import ocsf_validators

    validators = ocsf_validators()
    class_uid, _alerts, events = mapped
    failures = []
    for alert, event in zip(ALERTS, events):
        validator = validators(class_uid, tuple(event["metadata"].get("profiles", ())))
        failures += [f"{alert['id']} (rule {alert['rule']['id']}): {'/'.join(map(str, e.absolute_path))}: "
                     f"{e.message[:200]}" for e in validator.iter_errors(event)]
    assert failures[:20] == []


def test_no_value_of_a_real_alert_is_lost(mapped):
    _class_uid, alerts, events = mapped
    lost = {}
    for alert, event in zip(alerts, events):
        haystack = "\x00".join(_text(value) for _path, value in scalars(event))
        missing = [path for path, value in scalars(alert)
                   if value is not None and value != "" and _text(value) not in haystack
                   and json.dumps(value, ensure_ascii=False)[1:-1] not in haystack]
        if missing:
            lost[alert["id"]] = missing
    assert lost == {}


def test_no_real_event_holds_an_empty_value(mapped):
    _class_uid, alerts, events = mapped
    assert [(alert["id"], empties) for alert, event in zip(alerts, events) if (empties := _empties(event))] == []
