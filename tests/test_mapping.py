"""Field-level tests of the Wazuh alert → OCSF 1.1.0 mapping (both classes).

Standard library only (these run under Python 3.9 too, where only pytest and hypothesis exist).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_corpus import load_corpus

from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping import CLASS_NAMES, MAPPERS, finding_uid, load_alert, map_alert
from wazuh_ocsf.mapping.common import MAX_STRING
from wazuh_ocsf.mapping.observables import is_ip

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"
BOTH = (2001, 2004)


def alert(**fields) -> dict:
    """A small valid alert; keyword arguments replace top-level fields (None removes one)."""
    base = {
        "timestamp": "2024-04-22T14:20:46.976+0000",
        "rule": {"level": 5, "description": "sshd: authentication failed.", "id": "5760", "firedtimes": 3,
                 "groups": ["syslog", "sshd", "authentication_failed"]},
        "agent": {"id": "001", "name": "web-01", "ip": "10.0.1.50"},
        "manager": {"name": "wazuh-server"},
        "id": "1713795646.884512",
        "full_log": "Apr 22 14:20:46 web-01 sshd[2331]: Failed password for root from 203.0.113.77 port 52318 ssh2",
        "decoder": {"parent": "sshd", "name": "sshd"},
        "data": {"srcip": "203.0.113.77", "srcport": "52318", "dstuser": "root"},
        "location": "/var/log/auth.log",
    }
    for key, value in fields.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def with_rule(**fields) -> dict:
    """:func:`alert` with ``rule`` fields replaced (None removes one)."""
    result = alert()
    for key, value in fields.items():
        if value is None:
            result["rule"].pop(key, None)
        else:
            result["rule"][key] = value
    return result


def finding(event: dict) -> dict:
    return event["finding"] if event["class_uid"] == 2001 else event["finding_info"]


def attacks(event: dict) -> list:
    return event.get("attacks") if event["class_uid"] == 2001 else event["finding_info"].get("attacks")


# -- the seed guide's first sample alert -----------------------------------------------------------


def test_seed_sample_alert_time_is_milliseconds() -> None:
    path = SHARED_DIR / "wazuh" / "seed_sample_alerts.ndjson"
    if not path.is_file():
        pytest.skip(f"{path} is not beside the checkout")
    event = map_alert(load_alert(path.read_bytes().splitlines()[0]))
    assert event["time"] == 1713795646976
    assert event["timezone_offset"] == 0
    assert event["metadata"]["original_time"] == "2024-04-22T14:20:46.976+0000"


def test_classification_and_constants_security_finding() -> None:
    event = map_alert(alert(), product_version="4.14.7")
    assert {key: event[key] for key in (
        "activity_id", "activity_name", "category_uid", "category_name", "class_uid", "class_name",
        "type_uid", "type_name", "state_id", "state", "severity_id", "severity", "risk_score", "message",
    )} == {
        "activity_id": 1, "activity_name": "Create", "category_uid": 2, "category_name": "Findings",
        "class_uid": 2001, "class_name": "Security Finding", "type_uid": 200101,
        "type_name": "Security Finding: Create", "state_id": 1, "state": "New", "severity_id": 2, "severity": "Low",
        "risk_score": 5, "message": "sshd: authentication failed.",
    }
    assert "count" not in event and event["unmapped"]["rule.firedtimes"] == "3"
    assert event["metadata"] == {
        "version": "1.1.0",
        "product": {"name": "Wazuh", "vendor_name": "Wazuh, Inc.", "lang": "en", "version": "4.14.7"},
        "log_name": "Security events",
        "log_provider": "Wazuh",
        "original_time": "2024-04-22T14:20:46.976+0000",
        "uid": "1713795646.884512",
        "loggers": [{"name": "wazuh-server"}],
    }
    assert event["finding"] == {
        "uid": "wazuh-server:1713795646.884512:1713795646976",
        "title": "sshd: authentication failed.",
        "types": ["syslog", "sshd", "authentication_failed"],
    }
    assert event["analytic"] == {
        "type_id": 1, "type": "Rule", "uid": "5760", "name": "sshd: authentication failed.",
        "category": "syslog, sshd, authentication_failed",
    }
    assert event["raw_data"] == alert()["full_log"]
    assert event["data_sources"] == ["location:/var/log/auth.log", "decoder.name:sshd"]
    assert event["resources"] == [{"uid": "001", "name": "web-01", "type": "Wazuh agent"}]
    assert "status_id" not in event and "device" not in event and "profiles" not in event["metadata"]


def test_classification_and_constants_detection_finding() -> None:
    event = map_alert(alert(), class_uid=2004)
    assert (event["class_uid"], event["class_name"], event["type_uid"], event["type_name"]) == (
        2004, "Detection Finding", 200401, "Detection Finding: Create")
    assert (event["status_id"], event["status"]) == (1, "New")
    assert "state_id" not in event and "finding" not in event and "analytic" not in event
    assert event["finding_info"] == {
        "uid": "wazuh-server:1713795646.884512:1713795646976",
        "title": "sshd: authentication failed.",
        "types": ["syslog", "sshd", "authentication_failed"],
        "analytic": {"type_id": 1, "type": "Rule", "uid": "5760", "name": "sshd: authentication failed.",
                     "category": "syslog, sshd, authentication_failed"},
        "data_sources": ["location:/var/log/auth.log", "decoder.name:sshd"],
    }
    assert event["device"] == {"uid": "001", "name": "web-01", "ip": "10.0.1.50", "type_id": 0, "type": "Unknown"}
    assert event["metadata"]["profiles"] == ["host"]
    assert event["evidences"] == [
        {"src_endpoint": {"ip": "203.0.113.77", "port": 52318}, "actor": {"user": {"name": "root"}}}
    ]


# -- ATT&CK ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("class_uid", BOTH)
def test_three_techniques_one_tactic_give_three_attacks_with_that_tactic(class_uid: int) -> None:
    mitre = {"id": ["T1110", "T1021", "T1078"], "technique": ["Brute Force", "Remote Services", "Valid Accounts"],
             "tactic": ["Credential Access"]}
    event = map_alert(with_rule(mitre=mitre), class_uid=class_uid, attack_version="v16.1")
    tactic = {"uid": "TA0006", "name": "Credential Access"}
    assert attacks(event) == [
        {"technique": {"uid": "T1110", "name": "Brute Force"}, "tactic": tactic, "version": "v16.1"},
        {"technique": {"uid": "T1021", "name": "Remote Services"}, "tactic": tactic, "version": "v16.1"},
        {"technique": {"uid": "T1078", "name": "Valid Accounts"}, "tactic": tactic, "version": "v16.1"},
    ]
    assert not any(key.startswith("rule.mitre") for key in event.get("unmapped", {}))


def test_several_tactics_are_not_paired_with_techniques() -> None:
    mitre = {"id": ["T1110.001", "T1021.004"], "technique": ["Password Guessing", "SSH"],
             "tactic": ["Credential Access", "Lateral Movement", "Made Up Tactic"]}
    event = map_alert(with_rule(mitre=mitre))
    assert event["attacks"] == [
        {"technique": {"uid": "T1110"}, "sub_technique": {"uid": "T1110.001", "name": "Password Guessing"}},
        {"technique": {"uid": "T1021"}, "sub_technique": {"uid": "T1021.004", "name": "SSH"}},
        {"tactic": {"uid": "TA0006", "name": "Credential Access"}},
        {"tactic": {"uid": "TA0008", "name": "Lateral Movement"}},
        {"tactic": {"name": "Made Up Tactic"}},
    ]


def test_tactics_without_techniques_and_technique_names_that_do_not_line_up() -> None:
    event = map_alert(with_rule(mitre={"tactic": ["Impact"]}))
    assert event["attacks"] == [{"tactic": {"uid": "TA0040", "name": "Impact"}}]
    event = map_alert(with_rule(mitre={"id": ["T1485", "T1070"], "technique": ["Data Destruction"]}))
    assert event["attacks"] == [{"technique": {"uid": "T1485"}}, {"technique": {"uid": "T1070"}}]
    assert event["unmapped"]["rule.mitre.technique"] == '["Data Destruction"]'


def test_mitre_of_unexpected_shape_is_kept_in_unmapped() -> None:
    event = map_alert(with_rule(mitre={"id": "T1078", "tactic": [1, 2]}))
    assert event["attacks"] == [{"technique": {"uid": "T1078"}}]
    assert event["unmapped"]["rule.mitre.tactic"] == "[1,2]"
    event = map_alert(with_rule(mitre=["T1078"]))
    assert "attacks" not in event
    assert event["unmapped"]["rule.mitre"] == '["T1078"]'


# -- severity, counts, integers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "severity_id", "severity"),
    [(-1, 0, "Unknown"), (0, 1, "Informational"), (3, 1, "Informational"), (4, 2, "Low"), (7, 2, "Low"),
     (8, 3, "Medium"), (10, 3, "Medium"), (11, 4, "High"), (14, 4, "High"), (15, 5, "Critical"),
     (16, 5, "Critical")],
)
@pytest.mark.parametrize("class_uid", BOTH)
def test_severity_boundaries(level: int, severity_id: int, severity: str, class_uid: int) -> None:
    event = map_alert(with_rule(level=level), class_uid=class_uid)
    assert (event["severity_id"], event["severity"], event["risk_score"]) == (severity_id, severity, level)
    assert "rule.level" not in event.get("unmapped", {})


def test_level_missing_or_not_a_number_is_unknown_severity() -> None:
    event = map_alert(with_rule(level=None))
    assert (event["severity_id"], event["severity"]) == (0, "Unknown")
    assert "risk_score" not in event
    event = map_alert(with_rule(level=["high"]))
    assert (event["severity_id"], event["severity"]) == (0, "Unknown")
    assert event["unmapped"]["rule.level"] == '["high"]'


def test_level_as_string_is_mapped_and_kept() -> None:
    event = map_alert(with_rule(level="12"))
    assert (event["severity_id"], event["risk_score"]) == (4, 12)
    assert event["unmapped"]["rule.level"] == "12"


@pytest.mark.parametrize("class_uid", BOTH)
def test_out_of_range_integers_go_to_unmapped(class_uid: int) -> None:
    event = map_alert(with_rule(level=2**31, firedtimes=-(2**31) - 1), class_uid=class_uid)
    assert "risk_score" not in event and "count" not in event
    assert (event["severity_id"], event["severity"]) == (5, "Critical")
    assert event["unmapped"]["rule.level"] == "2147483648"
    assert event["unmapped"]["rule.firedtimes"] == "-2147483649"
    event = map_alert(with_rule(level=2**31 - 1, firedtimes=-(2**31)), class_uid=class_uid)
    assert event["risk_score"] == 2**31 - 1 and "count" not in event


def test_port_and_pid_out_of_range_are_not_evidence() -> None:
    event = map_alert(alert(data={"srcip": "203.0.113.7", "srcport": "70000",
                                  "audit": {"pid": str(2**31), "exe": "/bin/sh"}}), class_uid=2004)
    assert event["evidences"] == [{"src_endpoint": {"ip": "203.0.113.7"}}]
    assert event["unmapped"]["data.srcport"] == "70000"


# -- timestamps ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "time", "offset"),
    [
        ("2024-04-22T14:20:46.976+0000", 1713795646976, 0),
        ("2024-04-22T16:20:46.976+0200", 1713795646976, 120),
        ("2024-04-22T09:20:46.976-0500", 1713795646976, -300),
        ("2024-04-22T14:20:46.976+00:00", 1713795646976, 0),
        ("2024-04-22T19:50:46.976+05:30", 1713795646976, 330),
        ("2024-04-22T14:20:46.976Z", 1713795646976, 0),
        ("2024-04-22T14:20:46Z", 1713795646000, 0),
        ("2024-04-22T14:20:46+0000", 1713795646000, 0),
        ("2024-04-22T14:20:46.9+0000", 1713795646900, 0),
        ("2024-04-22T14:20:46.976999999+0000", 1713795646976, 0),
        ("2024-04-22 14:20:46.976+0000", 1713795646976, 0),
        ("2024-04-22T14:20:46.976", 1713795646976, None),
        ("1970-01-01T00:00:00.000+0000", 0, 0),
        ("2024-02-29T00:00:00Z", 1709164800000, 0),
        ("2000-02-29T00:00:00Z", 951782400000, 0),
        ("2024-04-23T00:20:46.976+1000", 1713795646976, 600),
    ],
)
def test_timestamp_forms(timestamp: str, time: int, offset: int | None) -> None:
    event = map_alert(alert(timestamp=timestamp))
    assert event["time"] == time
    assert event.get("timezone_offset") == offset
    assert event["metadata"]["original_time"] == timestamp


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [
        (None, "alert has no timestamp"),
        (1713795646, "timestamp is not a string"),
        ("", "not an ISO 8601"),
        ("yesterday", "not an ISO 8601"),
        ("2024-04-22", "not an ISO 8601"),
        ("2024-04-22T14:20:46.976+000", "not an ISO 8601"),
        ("2024-04-22T14:20:46.+0000", "not an ISO 8601"),
        ("2024-04-22T14:20:46.976 +0000", "not an ISO 8601"),
        ("２０２４-04-22T14:20:46Z", "not an ISO 8601"),
        ("2024-13-01T00:00:00Z", "not a valid date"),
        ("2024-04-31T00:00:00Z", "not a valid date"),
        ("2023-02-29T00:00:00Z", "not a valid date"),
        ("1900-02-29T00:00:00Z", "not a valid date"),
        ("2024-04-22T24:00:00Z", "not a valid date"),
        ("2024-04-22T14:60:00Z", "not a valid date"),
        ("2024-04-22T14:20:46.976+2400", "invalid UTC offset"),
        ("2024-04-22T14:20:46.976+0060", "invalid UTC offset"),
        # Before 1970 the flusher cannot store: refused here, so the hook keeps the alert (exit 10).
        ("1969-12-31T23:59:59.999Z", "outside 1970-01-01..9999-12-31"),
        ("1969-12-31T23:59:59.999+0000", "outside 1970-01-01..9999-12-31"),
        ("1970-01-01T00:30:00+0100", "outside 1970-01-01..9999-12-31"),
        ("0000-01-01T00:00:00.000+0000", "outside 1970-01-01..9999-12-31"),
        ("0001-01-01T00:00:00Z", "outside 1970-01-01..9999-12-31"),
        ("9999-12-31T23:59:59-0100", "outside 1970-01-01..9999-12-31"),
    ],
)
@pytest.mark.parametrize("class_uid", BOTH)
def test_bad_timestamps_raise_alert_error(timestamp: object, message: str, class_uid: int) -> None:
    bad = alert(timestamp=timestamp) if timestamp is not None else alert(timestamp=None)
    with pytest.raises(AlertError, match=message):
        map_alert(bad, class_uid=class_uid)


def test_days_from_civil_agrees_with_datetime() -> None:
    import datetime

    from wazuh_ocsf.mapping.timestamps import days_from_civil

    epoch = datetime.date(1970, 1, 1)
    day = datetime.date(1, 1, 1)
    while day.year < 9999:
        assert days_from_civil(day.year, day.month, day.day) == (day - epoch).days, day
        day += datetime.timedelta(days=97)


# -- strings --------------------------------------------------------------------------------------


def test_unicode_full_log_is_kept_exactly() -> None:
    corpus = load_corpus()
    source = corpus["sudo-unicode-full-log"]
    for class_uid in BOTH:
        event = map_alert(source, class_uid=class_uid)
        assert event["raw_data"] == source["full_log"]
        assert event["time"] == 1713795646976 and event["timezone_offset"] == 120


def test_60_kib_full_log_is_kept_whole() -> None:
    source = load_corpus()["full-command-60k-full-log"]
    assert 55_000 < len(source["full_log"]) <= MAX_STRING
    for class_uid in BOTH:
        assert map_alert(source, class_uid=class_uid)["raw_data"] == source["full_log"]


@pytest.mark.parametrize("class_uid", BOTH)
def test_strings_over_65535_characters_are_cut_with_a_marker(class_uid: int) -> None:
    long = "é" * 70_000
    source = alert(full_log=long, data={"payload": long, "x" * 70_000: "key too long"})
    source["rule"]["description"] = long
    event = map_alert(source, class_uid=class_uid)
    marker = "…[truncated by wazuh-ocsf: 70000 characters in total]"
    cut = "é" * (MAX_STRING - len(marker)) + marker
    assert len(cut) == MAX_STRING
    assert event["raw_data"] == cut
    assert event["message"] == cut
    assert finding(event)["title"] == cut
    assert event["unmapped"]["data.payload"] == cut
    long_keys = [key for key in event["unmapped"] if key.startswith("data.xxx")]
    assert len(long_keys) == 1 and len(long_keys[0]) == MAX_STRING
    assert long_keys[0].endswith("70005 characters in total]")
    assert event["unmapped"][long_keys[0]] == "key too long"


def test_exactly_65535_characters_are_not_cut() -> None:
    text = "a" * MAX_STRING
    assert map_alert(alert(full_log=text))["raw_data"] == text


# -- agents, decoders, observables ----------------------------------------------------------------


def test_agent_000_is_the_manager() -> None:
    source = alert(agent={"id": "000", "name": "wazuh-server"})
    event = map_alert(source)
    assert event["resources"] == [{"uid": "000", "name": "wazuh-server", "type": "Wazuh manager (agent 000)"}]
    event = map_alert(source, class_uid=2004)
    assert event["device"] == {"uid": "000", "name": "wazuh-server", "type_id": 1, "type": "Server"}
    assert event["resources"][0]["type"] == "Wazuh manager (agent 000)"


def test_ipv6_agent_ip() -> None:
    source = alert(agent={"id": "017", "name": "db-02", "ip": "2001:db8:10:0:215:5dff:fe00:7"})
    event = map_alert(source, class_uid=2004)
    assert event["device"]["ip"] == "2001:db8:10:0:215:5dff:fe00:7"
    assert {"name": "device.ip", "type_id": 2, "type": "IP Address", "value": "2001:db8:10:0:215:5dff:fe00:7"} in (
        event["observables"])
    assert "agent.ip" not in event["unmapped"]
    # Security Finding's resources have no ip attribute in OCSF 1.1.0: it stays in unmapped.
    assert map_alert(source)["unmapped"]["agent.ip"] == "2001:db8:10:0:215:5dff:fe00:7"


@pytest.mark.parametrize("class_uid", BOTH)
def test_no_agent_ip_and_an_invalid_one(class_uid: int) -> None:
    event = map_alert(alert(agent={"id": "021", "name": "batch-07"}), class_uid=class_uid)
    assert all(item["type_id"] != 2 or item["value"] != "10.0.1.50" for item in event["observables"])
    if class_uid == 2004:
        assert event["device"] == {"uid": "021", "name": "batch-07", "type_id": 0, "type": "Unknown"}
    event = map_alert(alert(agent={"id": "007", "ip": "24.273.97.14"}), class_uid=class_uid)
    assert event["unmapped"]["agent.ip"] == "24.273.97.14"
    assert all(item["value"] != "24.273.97.14" for item in event.get("observables", []))


@pytest.mark.parametrize("class_uid", BOTH)
def test_no_decoder_no_agent_no_location(class_uid: int) -> None:
    event = map_alert(alert(decoder=None, agent=None, location=None, manager=None, data=None), class_uid=class_uid)
    assert "resources" not in event and "device" not in event and "profiles" not in event["metadata"]
    sources = event.get("data_sources") if class_uid == 2001 else event["finding_info"].get("data_sources")
    assert sources is None
    assert finding(event)["uid"] == ":1713795646.884512:1713795646976"


def test_observable_types() -> None:
    source = alert(
        data={"srcip": "203.0.113.77", "dstip": "not-an-ip", "srcuser": "alice", "dstuser": "root",
              "url": "/cgi-bin/x", "audit": {"exe": "/usr/bin/ping"}},
        syscheck={"path": "/etc/passwd", "sha256_after": "ab" * 32, "md5_after": "not hex"},
    )
    observables = {
        (item["name"], item["type_id"], item["type"], item["value"]) for item in map_alert(source)["observables"]
    }
    # Each name is the attribute of this event that holds the value; Security Finding keeps
    # most of them in unmapped only.
    assert observables == {
        ("resources.name", 1, "Hostname", "web-01"),
        ("unmapped.agent.ip", 2, "IP Address", "10.0.1.50"),
        ("unmapped.data.srcip", 2, "IP Address", "203.0.113.77"),
        ("unmapped.data.srcuser", 4, "User Name", "alice"),
        ("unmapped.data.dstuser", 4, "User Name", "root"),
        ("unmapped.data.url", 6, "URL String", "/cgi-bin/x"),
        ("unmapped.data.audit.exe", 9, "Process Name", "/usr/bin/ping"),
        ("unmapped.syscheck.path", 7, "File Name", "/etc/passwd"),
        ("unmapped.syscheck.sha256_after", 8, "Hash", "ab" * 32),
    }
    observables = {
        (item["name"], item["value"]) for item in map_alert(source, class_uid=2004)["observables"]
    }
    assert observables == {
        ("device.name", "web-01"),
        ("device.ip", "10.0.1.50"),
        ("evidences.src_endpoint.ip", "203.0.113.77"),
        ("evidences.actor.user.name", "alice"),
        ("unmapped.data.dstuser", "root"),
        ("unmapped.data.url", "/cgi-bin/x"),
        ("unmapped.data.audit.exe", "/usr/bin/ping"),  # no pid: no evidence process
        ("evidences.file.path", "/etc/passwd"),
        ("evidences.file.hashes.value", "ab" * 32),
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10.0.0.1", True), ("255.255.255.255", True), ("256.1.1.1", False), ("01.2.3.4", False), ("1.2.3", False),
     ("1.2.3.4.5", False), ("::", True), ("::1", True), ("2001:db8::", True), ("fe80::1%eth0", True),
     ("::ffff:192.0.2.1", True), ("1:2:3:4:5:6:7:8", True), ("1:2:3:4:5:6:7:8:9", False), ("1::2::3", False),
     ("12345::", False), ("fe80::1%", False), ("-", False), ("", False), ("any", False), ("g::1", False),
     ("1:2:3:4:5:6:7::", True), ("1:2:3:4:5:6::1.2.3.4", False)],
)
def test_is_ip_agrees_with_ocsf_ip_t(value: str, expected: bool) -> None:
    assert is_ip(value) is expected
    ip_t = _ocsf_ip_pattern()
    if ip_t is not None:
        assert (ip_t.search(value) is not None) is expected, "OCSF's ip_t pattern disagrees"


def _ocsf_ip_pattern():
    import re

    path = SHARED_DIR / "ocsf" / "1.1.0" / "detection_finding.host.schema.json"
    if not path.is_file():
        return None
    return re.compile(json.loads(path.read_text())["$defs"]["device"]["properties"]["ip"]["pattern"])


def test_evidences_file_with_hashes_and_process() -> None:
    source = alert(
        data={"audit": {"pid": "3402", "command": "ping", "exe": "/usr/bin/ping"}},
        syscheck={"path": "C:\\Users\\x\\evil.exe", "md5_after": "44d88612fea8a8f36de82e1278abb02f",
                  "sha1_before": "3395856ce81f2b7382dee72602f798b642f14140", "sha256_after": "zz"},
    )
    event = map_alert(source, class_uid=2004)
    assert event["evidences"] == [{
        "file": {"name": "evil.exe", "path": "C:\\Users\\x\\evil.exe", "type_id": 1, "type": "Regular File",
                 "hashes": [{"algorithm_id": 1, "algorithm": "MD5", "value": "44d88612fea8a8f36de82e1278abb02f"},
                            {"algorithm_id": 2, "algorithm": "SHA-1",
                             "value": "3395856ce81f2b7382dee72602f798b642f14140"}]},
        "process": {"pid": 3402, "name": "ping",
                    "file": {"name": "ping", "path": "/usr/bin/ping", "type_id": 1, "type": "Regular File"}},
    }]


def test_windows_registry_path_is_not_a_file_and_windows_hex_pid() -> None:
    source = alert(
        data={"win": {"eventdata": {"processId": "0x1a4", "image": "C:\\Windows\\System32\\cmd.exe",
                                    "commandLine": "cmd /c whoami", "ipAddress": "-", "targetUserName": "-"}}},
        syscheck={"path": "HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Services\\x"},
    )
    event = map_alert(source, class_uid=2004)
    assert event["evidences"] == [{"process": {
        "pid": 0x1A4, "name": "cmd.exe", "cmd_line": "cmd /c whoami",
        "file": {"name": "cmd.exe", "path": "C:\\Windows\\System32\\cmd.exe", "type_id": 1, "type": "Regular File"},
    }}]


# -- compliance ----------------------------------------------------------------------------------


def test_compliance_security_finding_only_and_sp_800_53_is_not_nist_csf() -> None:
    source = with_rule(pci_dss=["10.2.4", "10.2.5"], gdpr=["IV_35.7.d"], hipaa=["164.312.b"],
                       nist_800_53=["AU.14", "AC.7"], tsc=["CC6.1"], gpg13=["7.1"])
    event = map_alert(source)
    assert "nist" not in event  # OCSF's nist is the NIST Cybersecurity Framework, not SP 800-53
    assert event["compliance"] == {
        "standards": ["PCI DSS", "GDPR", "HIPAA", "NIST SP 800-53", "TSC", "GPG13"],
        "requirements": ["PCI DSS 10.2.4", "PCI DSS 10.2.5", "GDPR IV_35.7.d", "HIPAA 164.312.b",
                         "NIST SP 800-53 AU.14", "NIST SP 800-53 AC.7", "TSC CC6.1", "GPG13 7.1"],
    }
    assert not any(key in event.get("unmapped", {}) for key in ("rule.pci_dss", "rule.nist_800_53"))
    event = map_alert(source, class_uid=2004)
    assert "compliance" not in event and "nist" not in event
    assert event["unmapped"]["rule.pci_dss"] == '["10.2.4","10.2.5"]'
    assert event["unmapped"]["rule.nist_800_53"] == '["AU.14","AC.7"]'


# -- finding_uid ---------------------------------------------------------------------------------


def test_finding_uid_is_node_id_and_utc_milliseconds() -> None:
    base = alert(cluster={"name": "c", "node": "worker-01"})
    assert finding_uid(base) == "worker-01:1713795646.884512:1713795646976"
    assert map_alert(base)["finding"]["uid"] == finding_uid(base)
    assert map_alert(base, class_uid=2004)["finding_info"]["uid"] == finding_uid(base)
    assert finding_uid(alert()) == "wazuh-server:1713795646.884512:1713795646976"  # no cluster: manager.name


def test_finding_uid_ignores_timestamp_spelling_and_everything_else() -> None:
    base = alert()
    same = [
        alert(timestamp="2024-04-22T14:20:46.976Z"),
        alert(timestamp="2024-04-22T16:20:46.976+02:00"),
        alert(timestamp="2024-04-22T14:20:46.976123+0000"),
        alert(full_log="other", data={"x": 1}, rule={"id": "1"}),
        json.loads(json.dumps(base, indent=2, sort_keys=True)),
    ]
    assert {finding_uid(other) for other in same} == {finding_uid(base)}


def test_finding_uid_differs_across_nodes_ids_and_times() -> None:
    uids = [
        finding_uid(alert()),
        finding_uid(alert(cluster={"node": "worker-01"})),
        finding_uid(alert(cluster={"node": "worker-02"})),
        finding_uid(alert(manager={"name": "other-manager"})),
        finding_uid(alert(id="1713795646.884513")),
        finding_uid(alert(timestamp="2024-04-22T14:20:46.977+0000")),
        finding_uid(alert(timestamp="2024-04-22T14:20:46.976+0100")),
    ]
    assert len(set(uids)) == len(uids)


def test_finding_uid_without_id_is_a_checksum_of_the_alert() -> None:
    first = alert(id=None)
    reordered = dict(reversed(list(first.items())))
    uid = finding_uid(first)
    assert uid.startswith("wazuh-server:crc32-") and uid.endswith(":1713795646976")
    assert len(uid.split(":")[1]) == len("crc32-") + 8
    assert finding_uid(reordered) == uid
    assert finding_uid(alert(id=None, full_log="another line")) != uid
    assert finding_uid(alert(id=1713795646.5)) == "wazuh-server:1713795646.5:1713795646976"


# -- unexpected types, unmapped -----------------------------------------------------------------


def test_rule_id_as_number_is_mapped_and_kept() -> None:
    event = map_alert(with_rule(id=100200))
    assert event["analytic"]["uid"] == "100200"
    assert event["unmapped"]["rule.id"] == "100200"


@pytest.mark.parametrize("source", [{"ip": "192.0.2.1", "port": 53}, "zeek", ["a", 1], 5, True, None])
@pytest.mark.parametrize("class_uid", BOTH)
def test_data_source_of_any_type(source: object, class_uid: int) -> None:
    event = map_alert(alert(data={"source": source}), class_uid=class_uid)
    unmapped = event.get("unmapped", {})
    if isinstance(source, dict):
        assert unmapped["data.source.ip"] == "192.0.2.1" and unmapped["data.source.port"] == "53"
    elif source is None:
        assert not any(key.startswith("data.source") for key in unmapped)
    else:
        expected = source if isinstance(source, str) else json.dumps(source, separators=(",", ":"))
        assert unmapped["data.source"] == expected


@pytest.mark.parametrize("class_uid", BOTH)
def test_scalars_where_objects_are_expected_and_the_reverse(class_uid: int) -> None:
    source = alert(agent="web-01", data="raw text", decoder=["sshd"], manager=7, cluster=None, location={"a": "b"})
    source["rule"].update(description={"text": "x"}, groups="sshd", firedtimes="3")
    event = map_alert(source, class_uid=class_uid)
    info = finding(event)
    assert info["title"] == "Wazuh rule 5760"
    assert info["types"] == ["sshd"]
    assert "count" not in event
    assert event["unmapped"] == {
        "rule.description.text": "x",
        "rule.firedtimes": "3",
        "agent": "web-01",
        "data": "raw text",
        "decoder": '["sshd"]',
        "manager": "7",
        "location.a": "b",
    }


def test_unmapped_encoding_empties_and_key_collisions() -> None:
    source = alert(data={"flag": True, "n": 1.5, "list": [1, "a", None], "none": None, "empty": "", "obj": {},
                         "arr": [], "nested": {"deep": {"x": 0}}, "a.b": "dotted"},
                   extra={"a": {"b": "first"}, "a.b": "second"})
    event = map_alert(source)
    unmapped = event["unmapped"]
    assert unmapped["extra.a.b"] == "first" and unmapped["extra.a.b#2"] == "second"
    assert unmapped["data.flag"] == "true" and unmapped["data.n"] == "1.5"
    assert unmapped["data.list"] == '[1,"a",null]'
    assert unmapped["data.nested.deep.x"] == "0"
    assert not any(key.startswith(("data.none", "data.empty", "data.obj", "data.arr")) for key in unmapped)


@pytest.mark.parametrize("class_uid", BOTH)
def test_mapping_is_pure(class_uid: int) -> None:
    for source in load_corpus().values():
        before = copy.deepcopy(source)
        event = map_alert(source, class_uid=class_uid)
        assert source == before
        alert_containers = {id(obj) for obj in _containers(source)}
        assert not any(id(obj) in alert_containers for obj in _containers(event))
        assert map_alert(source, class_uid=class_uid) == event


def _containers(value: object) -> list:
    if isinstance(value, dict):
        return [value, *(obj for item in value.values() for obj in _containers(item))]
    if isinstance(value, list):
        return [value, *(obj for item in value for obj in _containers(item))]
    return []


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], r"alert is not a JSON object \(got list\)"),
        ("{}", r"alert is not a JSON object \(got str\)"),
        (None, r"alert is not a JSON object \(got NoneType\)"),
        ({"timestamp": "2024-04-22T14:20:46Z"}, "alert has no rule object"),
        ({"timestamp": "2024-04-22T14:20:46Z", "rule": "5710"}, r"rule is not an object \(got str\)"),
        ({"rule": {}}, "alert has no timestamp"),
    ],
)
def test_unmappable_alerts_raise_alert_error(value: object, message: str) -> None:
    with pytest.raises(AlertError, match=message):
        map_alert(value)


def test_dict_subclasses_are_mapped_like_dicts() -> None:
    from collections import OrderedDict

    source = alert()
    ordered = OrderedDict(source)
    ordered["rule"] = OrderedDict(source["rule"])
    assert map_alert(ordered) == map_alert(source)
    plain = alert()
    plain["rule"] = OrderedDict(plain["rule"])
    assert map_alert(plain) == map_alert(source)
    assert type(plain["rule"]) is OrderedDict  # the caller's alert is left alone
    nested = map_alert(alert(data={"n": OrderedDict(a=1)}))
    assert nested["unmapped"]["data.n"] == '{"a":1}'  # deeper ones are kept whole


@pytest.mark.parametrize("class_uid", [2005, "2001", None, 2001.0])
def test_unknown_class_raises_alert_error(class_uid: object) -> None:
    with pytest.raises(AlertError, match="unknown OCSF class_uid"):
        map_alert(alert(), class_uid=class_uid)


def test_deep_nesting_raises_alert_error_not_recursion_error() -> None:
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["d"] = {}
        node = node["d"]
    with pytest.raises(AlertError, match="RecursionError"):
        map_alert(alert(data=deep))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff{}", "not valid UTF-8"),
        (b"", "alert is empty"),
        ("  \n", "alert is empty"),
        ("[1, 2]", r"not a JSON object \(got a JSON list\)"),
        ('"text"', r"not a JSON object \(got a JSON str\)"),
        ("{bad", "not valid JSON: Expecting property name"),
        ('{"a": 1}{"b": 2}', "not valid JSON: Extra data"),
        ("[" * 100_000, "nested too deeply"),
        (42, "must be bytes or str"),
    ],
)
def test_load_alert_errors(data: object, message: str) -> None:
    with pytest.raises(AlertError, match=message):
        load_alert(data)


def test_load_alert_accepts_bytes_str_and_pretty_printing_and_replaces_lone_surrogates() -> None:
    text = json.dumps(alert(), indent=2)
    assert load_alert(text) == load_alert(text.encode()) == load_alert(bytearray(text.encode())) == alert()
    loaded = load_alert('{"a": "x\\ud800y", "b": "\\ud83d\\ude00", "c": "\\uD800"}')
    assert loaded == {"a": "x?y", "b": "😀", "c": "?"}


# -- registry and imports ------------------------------------------------------------------------


def test_every_class_has_a_mapper() -> None:
    from wazuh_ocsf import config

    assert CLASS_NAMES == config.CLASS_NAMES
    assert set(MAPPERS) == set(config.CLASS_NAMES)
    package = REPO_ROOT / "wazuh_ocsf" / "mapping"
    # a class module is one that declares a CLASS_UID
    modules = sorted(
        path.stem for path in package.glob("*.py")
        if hasattr(__import__(f"wazuh_ocsf.mapping.{path.stem}", fromlist=["x"]), "CLASS_UID")
    )
    assert modules == sorted(CLASS_NAMES.values())
    for class_uid, name in CLASS_NAMES.items():
        module = __import__(f"wazuh_ocsf.mapping.{name}", fromlist=["CLASS_UID"])
        assert class_uid == module.CLASS_UID
        assert MAPPERS[class_uid].__module__ == module.__name__


def test_mapping_imports_stay_cheap() -> None:
    code = (
        "import sys, json; import wazuh_ocsf.mapping as m;"
        "m.map_alert(m.load_alert(sys.stdin.read()), class_uid=2004);"
        "print(json.dumps(sorted(sys.modules)))"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-S", "-c", code], input=json.dumps(alert()), capture_output=True,
                          text=True, env=env, check=True)
    loaded = set(json.loads(done.stdout))
    forbidden = {"datetime", "hashlib", "uuid", "base64", "typing", "dataclasses", "logging", "argparse",
                 "socket", "ipaddress", "pyarrow", "decimal"}
    assert loaded & forbidden == set()


def test_used_paths_stay_below_the_known_parents(monkeypatch) -> None:
    """unmapped walks only USED_PARENTS with the used checks: every used path must live there."""
    from wazuh_ocsf.mapping import detection_finding, security_finding, unmapped

    seen: list = []

    def spy(source: dict, used: set, parents: frozenset = unmapped.USED_PARENTS):
        # The finding classes pass with_parents(used) for the vulnerability paths only.
        seen.append({path for path in used if not path.startswith("data.vulnerability.")})
        return unmapped.map_unmapped(source, used, parents)

    monkeypatch.setattr(security_finding, "map_unmapped", spy)
    monkeypatch.setattr(detection_finding, "map_unmapped", spy)
    everything = with_rule(mitre={"id": ["T1"], "technique": ["x"], "tactic": ["Impact"]}, pci_dss=["1"], gdpr=["2"],
                           hipaa=["3"], nist_800_53=["4"], tsc=["5"], gpg13=["6"])
    for source in [everything, *load_corpus().values()]:
        for class_uid in BOTH:
            map_alert(source, class_uid=class_uid)
    paths = set().union(*seen)
    assert {"rule.mitre.id", "rule.pci_dss", "agent.ip", "decoder.name", "timestamp"} <= paths
    parents = {path.rsplit(".", 1)[0] for path in paths if "." in path}
    parents |= {parent.rsplit(".", 1)[0] for parent in parents if "." in parent}
    assert parents <= unmapped.USED_PARENTS
