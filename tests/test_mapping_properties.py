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

    from wazuh_ocsf.arrow_schema import events_to_table

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
