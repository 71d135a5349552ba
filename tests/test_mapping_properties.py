"""Property-based tests: whatever JSON an alert holds, the mapper returns an event or raises AlertError.

Runs under Python 3.9 too (pytest and hypothesis only); the Arrow part skips without pyarrow.
"""

from __future__ import annotations

import datetime
import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping import finding_uid, load_alert, map_alert
from wazuh_ocsf.mapping.timestamps import parse_timestamp

EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "000", "10.0.0.1", "2001:db8::1", "5", "-3", "0x1a4", "T1078.003", "Impact", "HKEY_X"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def shaped(keys: list) -> st.SearchStrategy:
    """Objects with Wazuh's own keys (values of any type) plus random ones."""
    return st.one_of(
        json_values,
        st.fixed_dictionaries({}, optional={key: json_values for key in keys}).flatmap(
            lambda known: st.dictionaries(st.text(max_size=8), json_values, max_size=3).map(
                lambda extra: {**extra, **known}
            )
        ),
    )


offsets = st.sampled_from(["Z", "+0000", "+00:00", "+0200", "-0500", "+05:30", "+1400", "-1200", ""])
valid_timestamps = st.builds(
    lambda moment, fraction, offset: f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S") + fraction + offset,
    st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31)),
    st.sampled_from(["", ".9", ".976", ".976123", ".123456789012"]),
    offsets,
)
timestamps = st.one_of(valid_timestamps, valid_timestamps.map(lambda text: text[:-1]), json_values)

alerts = st.builds(
    lambda rule, timestamp, rest: {**rest, "rule": rule, "timestamp": timestamp},
    shaped(["id", "level", "description", "firedtimes", "groups", "mitre", "pci_dss", "gdpr", "hipaa",
            "nist_800_53", "tsc", "gpg13", "mail"]),
    timestamps,
    st.fixed_dictionaries(
        {},
        optional={
            "id": json_values,
            "agent": shaped(["id", "name", "ip"]),
            "manager": shaped(["name"]),
            "cluster": shaped(["name", "node"]),
            "data": shaped(["srcip", "dstip", "srcport", "dstport", "srcuser", "dstuser", "url", "audit", "win",
                            "virustotal", "source"]),
            "syscheck": shaped(["path", "md5_after", "sha1_after", "sha256_after", "audit", "event"]),
            "decoder": shaped(["name", "parent"]),
            "location": json_values,
            "full_log": json_values,
            "previous_output": json_values,
        },
    ),
)


def _map_or_none(alert: dict, class_uid: int):
    try:
        return map_alert(alert, class_uid=class_uid, product_version="4.14.7", attack_version="v16.1")
    except AlertError as exc:
        message = str(exc)
        assert message, "AlertError without a message"
        assert not message.startswith("cannot map alert"), f"an internal error was wrapped: {message}"
        return None


@EXAMPLES
@given(alert=alerts, class_uid=st.sampled_from([2001, 2004]))
def test_mapper_returns_an_event_or_raises_alert_error(alert: dict, class_uid: int) -> None:
    event = _map_or_none(alert, class_uid)
    if event is None:
        return
    assert event["class_uid"] == class_uid
    assert isinstance(event["time"], int) and -(2**63) <= event["time"] < 2**63
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in event.get("unmapped", {}).items())
    assert _empties(event) == []
    json.dumps(event, allow_nan=False)  # no float anywhere: only OCSF integer/string/bool types
    assert finding_uid(alert) in json.dumps(event, ensure_ascii=False)


@EXAMPLES
@given(alert=alerts)
def test_load_alert_and_map_agree_with_map_alone(alert: dict) -> None:
    text = json.dumps(alert)
    assert _map_or_none(load_alert(text), 2004) == _map_or_none(json.loads(text), 2004)


@EXAMPLES
@given(alert=alerts, class_uid=st.sampled_from([2001, 2004]))
def test_every_event_converts_to_the_arrow_schema(alert: dict, class_uid: int) -> None:
    pytest.importorskip("pyarrow", reason="pyarrow is needed for the Arrow schema")
    from ocsf_events import rows_to_events

    from wazuh_ocsf.flush.arrow_schema import events_to_table

    event = _map_or_none(alert, class_uid)
    assume(event is not None)
    table = events_to_table([event], class_uid)
    assert rows_to_events(table.to_pylist()) == [event]


@EXAMPLES
@given(
    # From 1970 on: what the flusher can store (earlier times are refused, see test_mapping).
    moment=st.datetimes(min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(9999, 12, 30)),
    offset_minutes=st.one_of(st.just(0), st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59)),
    colon=st.booleans(),
    digits=st.sampled_from([3, 6]),
)
def test_time_is_utc_epoch_milliseconds(
    moment: datetime.datetime, offset_minutes: int, colon: bool, digits: int
) -> None:
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.%f")[: 16 + digits]
    text += f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # time is in ms, truncated
    aware = moment.replace(tzinfo=datetime.timezone(datetime.timedelta(minutes=offset_minutes)))
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    expected = (aware - epoch) // datetime.timedelta(milliseconds=1)
    event = map_alert({"timestamp": text, "rule": {}})
    assert (event["time"], event["timezone_offset"]) == (expected, offset_minutes)


def _empties(value: object) -> list:
    if value is None or value == "" or value == [] or value == {}:
        return [value]
    if isinstance(value, dict):
        return [found for item in value.values() for found in _empties(item)]
    if isinstance(value, list):
        return [found for item in value for found in _empties(item)]
    return []


# -- the routed classes ----------------------------------------------------------------------------

some_text = st.one_of(st.text(min_size=1, max_size=12), json_values)


def wazuh_object(keys: list, required: tuple = (), **special: st.SearchStrategy) -> st.SearchStrategy:
    """Objects with Wazuh's keys, mostly text values, often with the ``required`` ones (so the
    routed mappers' paths are reached), sometimes anything."""
    values = {key: special.get(key, some_text) for key in keys}
    optional = {key: value for key, value in values.items() if key not in required}
    with_required = st.fixed_dictionaries({key: values[key] for key in required}, optional=optional)
    return st.one_of(with_required, st.one_of(st.fixed_dictionaries({}, optional=values), shaped(keys)))


cvss_block = wazuh_object(["base_score", "vector"], base_score=st.one_of(
    st.sampled_from(["6.800000", "10", "9.8", "11", "-1", ".", "1.2.3"]), st.floats(), json_values),
    vector=st.one_of(st.dictionaries(st.text(max_size=6), some_text, max_size=3), json_values))
vulnerability = wazuh_object(
    ["cve", "title", "severity", "rationale", "description", "status", "reference", "references",
     "bugzilla_references", "published", "updated", "cwe_reference", "score", "cvss", "package", "scanner"],
    required=("cve",),
    status=st.sampled_from(["Active", "Solved", 3, ""]),
    published=st.sampled_from(["2024-07-01T13:15:01Z", "2023-10-18", "2023-02-30", "x", 5]),
    score=wazuh_object(["base", "version"], base=st.one_of(st.sampled_from(["8.100000", "7"]), json_values)),
    cvss=wazuh_object(["cvss2", "cvss3"], cvss2=cvss_block, cvss3=cvss_block),
    package=wazuh_object(["name", "version", "architecture", "condition"],
                         condition=st.sampled_from(["Package less than 2.0", "Package less than ", 7])),
    scanner=wazuh_object(["reference", "source"]),
    references=st.one_of(st.lists(st.text(max_size=6), max_size=3), json_values),
)
sca = wazuh_object(
    ["type", "policy", "policy_id", "check"],
    required=("type", "check"),
    type=st.sampled_from(["check", "summary", 1]),
    check=wazuh_object(["id", "title", "result", "reason", "remediation", "references", "description", "compliance"],
                       required=("id", "result"),
                       result=st.sampled_from(["passed", "failed", "not applicable", "PASSED", 0]),
                       compliance=st.one_of(st.dictionaries(st.text(max_size=6), json_values, max_size=3),
                                            json_values)),
)
cis = wazuh_object(["rule_title", "benchmark", "rule_ref", "result", "description", "remediation"],
                   required=("rule_title",))
audit = wazuh_object(["user", "process"], user=wazuh_object(["id", "name"]),
                     process=wazuh_object(["id", "name"], id=st.sampled_from(["2484", "0", 17, "x"])))
syscheck = wazuh_object(
    ["path", "event", "mode", "value_name", "diff", "audit", *(f"{key}_{when}" for key in
     ("size", "md5", "sha1", "sha256", "uname", "uid", "inode") for when in ("before", "after"))],
    required=("path", "event"),
    path=st.one_of(st.sampled_from(["/etc/passwd", "HKEY_LOCAL_MACHINE\\Run", "c:\\x.txt", "/"]), json_values),
    event=st.sampled_from(["added", "modified", "deleted", "renamed", None]),
    md5_after=st.sampled_from(["44d88612fea8a8f36de82e1278abb02f", "zz"]),
    audit=audit,
)
win = wazuh_object(
    ["system", "eventdata"],
    required=("system", "eventdata"),
    system=wazuh_object(["eventID", "computer"], required=("eventID",),
                        eventID=st.sampled_from(["4624", "4625", "4634", 4647, "4720"])),
    eventdata=wazuh_object(["targetUserName", "targetDomainName", "targetUserSid", "subjectUserName", "ipAddress",
                            "ipPort", "workstationName", "logonType", "authenticationPackageName", "status",
                            "targetLogonId"],
                           required=("targetUserName",),
                           logonType=st.sampled_from(["2", "3", "10", "6", 4]),
                           ipAddress=st.sampled_from(["198.51.100.9", "-", "::1"]),
                           targetUserName=st.sampled_from(["jdoe", "-", ""])),
)
login_data = wazuh_object(["srcip", "srcport", "dstip", "dstport", "srcuser", "dstuser", "user"],
                          srcip=st.sampled_from(["203.0.113.7", "nope"]), dstport=st.sampled_from(["22", 0]))
# class_uid → the fields of the module that class maps (so each is reached often), over random others.
MODULE_FIELDS = {
    2002: st.fixed_dictionaries({"data": st.fixed_dictionaries({"vulnerability": vulnerability})}),
    2003: st.one_of(st.fixed_dictionaries({"data": st.fixed_dictionaries({"sca": sca})}),
                    st.fixed_dictionaries({"data": st.fixed_dictionaries({"cis": cis})})),
    1001: st.fixed_dictionaries({"syscheck": syscheck}),
    3002: st.one_of(st.fixed_dictionaries({"data": st.fixed_dictionaries({"win": win})}),
                    st.fixed_dictionaries({"data": login_data, "predecoder": wazuh_object(["program_name"])})),
}


def routed_alerts(class_uid: int) -> st.SearchStrategy:
    """Alerts with the fields of ``class_uid``'s module (of any type and value), under rules of any kind."""
    return st.builds(
        lambda rule, timestamp, module, rest: {**rest, **module, "rule": rule, "timestamp": timestamp},
        wazuh_object(["id", "level", "description", "groups", "mitre"], required=("groups",),
                     groups=st.one_of(st.lists(st.sampled_from(["authentication_success", "authentication_failed",
                                                                "invalid_login", "sshd", 5]), max_size=3),
                                      json_values)),
        valid_timestamps,
        MODULE_FIELDS[class_uid],
        st.fixed_dictionaries(
            {"agent": wazuh_object(["id", "name", "ip"], required=("id",), id=st.sampled_from(["001", "000", 7, ""]),
                                   ip=st.sampled_from(["10.0.0.1", "2001:db8::1", "x"]))},
            optional={"id": json_values, "full_log": json_values, "data": shaped(["srcip", "win"])},
        ),
    )


ROUTED = {2002: "is_vulnerability", 2003: "is_compliance", 1001: "is_file_activity", 3002: "is_authentication"}


def _parses(timestamp: object) -> bool:
    try:
        parse_timestamp(timestamp)
    except AlertError:
        return False
    return True


@EXAMPLES
@given(data=st.data(), class_uid=st.sampled_from(sorted(ROUTED)))
def test_routed_mapper_maps_exactly_what_fits_and_nothing_else(data, class_uid: int) -> None:
    """Totality: an event when the routing predicate holds, else AlertError; the event is well formed."""
    alert = data.draw(routed_alerts(class_uid))
    pytest.importorskip("pyarrow", reason="pyarrow is needed for the Arrow schema")
    from ocsf_events import rows_to_events

    from wazuh_ocsf.flush.arrow_schema import events_to_table
    from wazuh_ocsf.mapping import routing

    event = _map_or_none(alert, class_uid)
    # Else AlertError whatever the class: no rule, or a time the flusher cannot store (before 1970...).
    mappable = isinstance(alert.get("rule"), dict) and _parses(alert["timestamp"])
    assert (event is not None) == (mappable and getattr(routing, ROUTED[class_uid])(alert))
    if event is None:
        return
    assert event["class_uid"] == class_uid
    assert _empties(event) == []
    json.dumps(event, allow_nan=False)
    assert (event.get("finding_info") or event["metadata"])["uid"] == finding_uid(alert)
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in event.get("unmapped", {}).items())
    assert rows_to_events(events_to_table([event], class_uid).to_pylist()) == [event]


@EXAMPLES
@given(data=st.data(), class_uid=st.sampled_from(sorted(ROUTED)))
def test_route_picks_an_active_fitting_class_or_the_finding_class(data, class_uid: int) -> None:
    alert = data.draw(routed_alerts(class_uid))
    from wazuh_ocsf.mapping import routing

    fitting = [uid for uid in ROUTED if getattr(routing, ROUTED[uid])(alert)]
    assert routing.route(alert, 2004, tuple(ROUTED)) == (routing.fitting_class(alert) or 2004)
    assert routing.route(alert, 2001, ()) == 2001
    for inactive in fitting:
        others = tuple(uid for uid in ROUTED if uid != inactive)
        assert routing.route(alert, 2004, others) != inactive
