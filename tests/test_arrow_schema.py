"""The explicit Arrow schema holds every mapped event without loss, by both write paths.

* every corpus event, both classes, equals its own round trip through ``events_to_table``,
  Parquet and back (nulls removed): nothing is dropped or changed by the conversion;
* the flusher's fast path (spool lines → ``pyarrow.json.read_json`` with
  ``spool_read_schema`` → ``from_spool_table``) gives the same table as ``events_to_table``;
* the schema follows the type rules (integer_t → int32, long_t/timestamp_t → int64, …).
"""

from __future__ import annotations

import io

import pytest

pa = pytest.importorskip("pyarrow", reason="pyarrow is needed for the Arrow schema")
import pyarrow.compute as pc  # noqa: E402
import pyarrow.json as pa_json  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from ocsf_events import CLASS_UIDS, SETTINGS, map_corpus, parquet_round_trip, rows_to_events  # noqa: E402
from spool_support import previous_release_line  # noqa: E402

from wazuh_ocsf.flush.arrow_schema import (  # noqa: E402
    events_to_table,
    from_spool_table,
    schema_for,
    spool_read_schema,
)
from wazuh_ocsf.mapping import CLASS_NAMES, map_alert  # noqa: E402
from wazuh_ocsf.spool.line import encode_event  # noqa: E402

ARROW_TYPES = {
    "integer_t": pa.int32(),
    "port_t": pa.int32(),
    "long_t": pa.int64(),
    "timestamp_t": pa.int64(),
    "float_t": pa.float64(),
    "url_t": pa.string(),
    "string_t": pa.string(),
    "ip_t": pa.string(),
    "file_name_t": pa.string(),
    "file_path_t": pa.string(),
    "boolean_t": pa.bool_(),
}

# One alert that makes every attribute either mapper can emit appear at least once.
KITCHEN_SINK = {
    "timestamp": "2024-04-22T16:20:46.976+0200",
    "id": "1713795646.1",
    "cluster": {"name": "wazuh", "node": "worker-01"},
    "manager": {"name": "wazuh-master"},
    "agent": {"id": "001", "name": "web-01", "ip": "2001:db8::7"},
    "location": "/var/log/audit/audit.log",
    "decoder": {"name": "auditd"},
    "full_log": "type=SYSCALL …",
    "rule": {
        "id": "80792", "level": 12, "firedtimes": 4, "description": "Audit: Command: /usr/bin/nc.",
        "groups": ["audit", "audit_command"], "pci_dss": ["10.2.7"], "nist_800_53": ["AU.14"],
        "mitre": {"id": ["T1059.004", "T1071"], "technique": ["Unix Shell", "Application Layer Protocol"],
                  "tactic": ["Execution"]},
    },
    "data": {
        "srcip": "203.0.113.7", "srcport": "4444", "dstip": "10.0.0.5", "dstport": "22", "srcuser": "alice",
        "url": "/x", "audit": {"pid": "3402", "command": "nc", "exe": "/usr/bin/nc"},
        "win": {"eventdata": {"commandLine": "nc -l"}},
    },
    "syscheck": {"path": "/etc/shadow", "md5_after": "44d88612fea8a8f36de82e1278abb02f",
                 "sha1_after": "3395856ce81f2b7382dee72602f798b642f14140", "sha256_after": "ab" * 32},
}
# … and the Windows process attributes, which the audit ones above take precedence over.
KITCHEN_SINK_WINDOWS = {
    "timestamp": "2024-04-22T14:20:46Z",
    "rule": {"id": "92052", "level": 4},
    "data": {"win": {"eventdata": {"processId": "0x1a4", "image": "C:\\Windows\\cmd.exe", "commandLine": "cmd /c"}}},
}


# The routed classes: the corpus events plus these set every column.
_SINK_RULE = {
    "id": "100900", "level": 9, "description": "x", "full_log": "y",
    "mitre": {"id": ["T1190", "T1078.003"], "technique": ["Exploit", "Local Accounts"], "tactic": ["Initial Access"]},
}
ROUTED_SINKS = {
    2002: [{
        "timestamp": "2024-04-22T14:20:46Z", "rule": _SINK_RULE, "full_log": "vulnerable",
        "agent": {"id": "001"}, "data": {"vulnerability": {"cve": "CVE-2024-1"}},
    }],
    2003: [{
        "timestamp": "2024-04-22T14:20:46Z", "rule": _SINK_RULE, "full_log": "not applicable",
        "data": {"sca": {"type": "check", "check": {"id": "1", "result": "not applicable", "reason": "no file"}}},
    }],
    1001: [],
    3002: [{
        "timestamp": "2024-04-22T14:20:46Z", "rule": {"groups": ["authentication_success"]}, "agent": {"id": "001"},
        "data": {"dstuser": "bob", "dstip": "10.0.0.5", "dstport": "22"},
    }],
}


# A GCP alert collected by the manager and a syslog line from another host: the finding
# classes' cloud, loggers and remote-device columns (mapping.subject).
KITCHEN_SINK_ELSEWHERE = (
    {**KITCHEN_SINK, "agent": {"id": "000", "name": "wazuh-server", "ip": "10.0.0.2"},
     "data": {"integration": "gcp", "gcp": {"resource": {"type": "gce_instance", "labels": {"project_id": "p-1"}}}}},
    {**KITCHEN_SINK, "location": "192.0.2.9", "predecoder": {"hostname": "fw-edge-1"}},
    {**KITCHEN_SINK, "agent": {"id": "005", "name": "db-01", "labels": {"env": "prod", "aws": {"region": "eu"}}},
     "rule": {**KITCHEN_SINK["rule"], "cis_csc": ["4.1", "16.11"]},
     "data": {"sca": {"type": "check", "policy": "CIS Benchmark", "check": {
         "id": "28500", "title": "Ensure x", "result": "not applicable", "reason": "Could not open file"}}}},
    {**KITCHEN_SINK, "data": {"win": {"system": {"eventID": "1116"}, "eventdata": {
        "threat Name": "Virus:DOS/EICAR_Test_File", "threat ID": "2147519003", "category Name": "Virus",
        "path": "file:_C:\\Users\\x\\eicar.com"}}}},
    # CloudTrail through a VPC endpoint by a web identity, and Sysmon's parent user (mapping.module_evidence).
    {**KITCHEN_SINK, "data": {"integration": "aws", "aws": {
        "eventName": "GetObject", "apiVersion": "2006-03-01", "vpcEndpointId": "vpce-0example",
        "sourceIPAddress": "10.0.3.7",
        "userIdentity": {"type": "WebIdentityUser", "userName": "ci", "sessionContext": {
            "webIdFederationData": {"federatedProvider": "token.actions.githubusercontent.com"}}}}}},
    {**KITCHEN_SINK, "data": {"win": {"system": {"providerName": "Microsoft-Windows-Sysmon", "eventID": "1"},
        "eventdata": {"processId": "4242", "parentProcessId": "4000", "parentUser": "CORP\\\\svc-build"}}}},
)


def sink_events(class_uid: int) -> list:
    sinks = ROUTED_SINKS.get(class_uid, (KITCHEN_SINK, KITCHEN_SINK_WINDOWS, *KITCHEN_SINK_ELSEWHERE))
    return [map_alert(alert, class_uid=class_uid, **SETTINGS) for alert in sinks]


def _leaves(fields, path=""):
    for field in fields:
        name = f"{path}.{field.name}" if path else field.name
        kind = field.type
        while pa.types.is_list(kind):
            field = kind.value_field
            kind = field.type
        if pa.types.is_struct(kind):
            yield from _leaves(list(kind), name)
        else:
            yield name, field


@pytest.mark.parametrize("class_uid", CLASS_UIDS, ids=lambda uid: CLASS_NAMES[uid])
def test_schema_follows_the_type_rules(class_uid: int) -> None:
    schema = schema_for(class_uid)
    assert schema.metadata[b"ocsf_version"] == b"1.1.0"
    assert schema.metadata[b"ocsf_class_uid"] == str(class_uid).encode()
    assert schema.field("unmapped").type == pa.map_(pa.string(), pa.string())
    assert schema.field("time").type == pa.int64() and schema.field("type_uid").type == pa.int64()
    leaves = dict(_leaves(schema))
    for name, field in leaves.items():
        if name == "unmapped":
            continue
        ocsf_type = field.metadata[b"ocsf_type"].decode()
        assert field.type == ARROW_TYPES[ocsf_type], name
    assert schema_for(class_uid) is schema  # built once


def test_unknown_class_has_no_schema() -> None:
    with pytest.raises(ValueError, match="no Arrow schema for OCSF class_uid 2005"):
        schema_for(2005)
    with pytest.raises(ValueError, match="no Arrow schema"):
        spool_read_schema(99)


@pytest.mark.parametrize("class_uid", CLASS_UIDS, ids=lambda uid: CLASS_NAMES[uid])
def test_every_event_survives_arrow_and_parquet(class_uid: int, tmp_path) -> None:
    events = map_corpus(class_uid)
    for number, event in enumerate(sink_events(class_uid)):
        events[f"kitchen-sink-{number}"] = event
    back = parquet_round_trip(list(events.values()), class_uid, tmp_path)
    for slug, event, returned in zip(events, events.values(), back):
        assert returned == event, slug


@pytest.mark.parametrize("class_uid", CLASS_UIDS, ids=lambda uid: CLASS_NAMES[uid])
def test_kitchen_sink_fills_every_column(class_uid: int) -> None:
    """Every leaf column of the schema is set by some event, so the round trip tests all of them."""
    events = [*sink_events(class_uid), *map_corpus(class_uid).values()]
    table = events_to_table(events, class_uid)
    empty = []
    for name, _field in _leaves(schema_for(class_uid)):
        column = table.column(name.split(".")[0])
        for part in name.split(".")[1:]:
            column = pc.list_flatten(column) if pa.types.is_list(column.type) else column
            column = pc.struct_field(column, part)
        while pa.types.is_list(column.type):
            column = pc.list_flatten(column)
        if column.null_count == len(column):
            empty.append(name)
    assert empty == []


def _spool_path(events: list, class_uid: int, block_size: int | None = None) -> pa.Table:
    data = b"".join(encode_event(event) for event in events)
    read_options = pa_json.ReadOptions(block_size=block_size) if block_size else pa_json.ReadOptions()
    parse_options = pa_json.ParseOptions(
        explicit_schema=spool_read_schema(class_uid), unexpected_field_behavior="error"
    )
    table = pa_json.read_json(io.BytesIO(data), read_options=read_options, parse_options=parse_options)
    return from_spool_table(table, class_uid)


@pytest.mark.parametrize("class_uid", CLASS_UIDS, ids=lambda uid: CLASS_NAMES[uid])
def test_spool_line_path_gives_the_same_table(class_uid: int) -> None:
    events = [*map_corpus(class_uid).values(), *sink_events(class_uid)]
    events.append({key: value for key, value in events[0].items() if key != "unmapped"})  # a null map
    expected = events_to_table(events, class_uid)
    # Small blocks: several chunks, so offsets that do not start at zero are exercised too.
    for block_size in (None, 1 << 16):
        table = _spool_path(events, class_uid, block_size)
        assert table.schema.equals(schema_for(class_uid), check_metadata=True)
        assert table.equals(expected)
        assert rows_to_events(table.to_pylist()) == events


def _read_spool_lines(data: bytes, class_uid: int, block_size: int | None = None) -> pa.Table:
    read_options = pa_json.ReadOptions(block_size=block_size) if block_size else pa_json.ReadOptions()
    parse_options = pa_json.ParseOptions(
        explicit_schema=spool_read_schema(class_uid), unexpected_field_behavior="error"
    )
    return from_spool_table(pa_json.read_json(io.BytesIO(data), read_options=read_options,
                                              parse_options=parse_options), class_uid)


@pytest.mark.parametrize("class_uid", CLASS_UIDS, ids=lambda uid: CLASS_NAMES[uid])
def test_old_and_new_spool_lines_of_the_same_events_give_identical_tables(class_uid: int) -> None:
    """An upgrade changes nothing in the Parquet: the previous release's lines (format 1), the
    lean lines (format 2) and any mix of them become the very same table, schema metadata included."""
    events = [*map_corpus(class_uid).values(), *sink_events(class_uid)]
    events.append({key: value for key, value in events[0].items() if key != "unmapped"})  # a null map
    events.append({**events[0], "unmapped": {}})  # an empty one
    # Attributes that differ from the table stay in the lean line; one the table would fill
    # makes the event a full-format line.
    events.append({**events[0], "severity": "Very high", "metadata": {**events[0]["metadata"], "log_name": "x"}})
    events.append({**events[0], "activity_id": 99, "activity_name": "Other", "type_uid": class_uid * 100 + 99})
    events.append({**events[0], "class_name": None})
    old = b"".join(previous_release_line(event) for event in events)
    new = b"".join(encode_event(event) for event in events)
    assert new.count(b'{"_format":2,') == len(events) - 1
    mixed = b"".join((encode_event if i % 3 else previous_release_line)(event) for i, event in enumerate(events))
    expected = events_to_table(events, class_uid)
    for block_size in (None, 1 << 16):  # one chunk; several, some of them all-old or all-new
        old_table = _read_spool_lines(old, class_uid, block_size)
        new_table = _read_spool_lines(new, class_uid, block_size)
        mixed_table = _read_spool_lines(mixed, class_uid, block_size)
        for table in (old_table, new_table, mixed_table):
            assert table.schema.equals(schema_for(class_uid), check_metadata=True)
            assert table.equals(old_table, check_metadata=True)
            assert table.combine_chunks().equals(expected.combine_chunks(), check_metadata=True)


def test_spool_reader_refuses_attributes_outside_the_schema() -> None:
    event = map_alert(KITCHEN_SINK, **SETTINGS)
    with pytest.raises(pa.ArrowInvalid):
        _spool_path([{**event, "not_in_schema": 1}], 2001)


def test_from_spool_table_needs_the_unmapped_column() -> None:
    with pytest.raises(ValueError, match="no unmapped column"):
        from_spool_table(pa.table({"time": pa.array([1], pa.int64())}), 2001)


def _sliced_spool_table(events: list, class_uid: int) -> pa.Table:
    """The spool path's table cut to start at row 1: its unmapped chunk has a non-zero offset."""
    data = b"".join(encode_event(event) for event in events)
    parse_options = pa_json.ParseOptions(explicit_schema=spool_read_schema(class_uid))
    return pa_json.read_json(io.BytesIO(data), parse_options=parse_options).slice(1)


def test_from_spool_table_takes_sliced_chunks_with_null_rows() -> None:
    event = map_alert(KITCHEN_SINK, **SETTINGS)
    bare = {key: value for key, value in event.items() if key != "unmapped"}  # a null map
    events = [event, bare, event]
    table = from_spool_table(_sliced_spool_table(events, 2001), 2001)
    assert table.equals(events_to_table(events[1:], 2001))


def test_from_spool_table_refuses_a_null_key() -> None:
    from wazuh_ocsf.errors import ConversionError

    event = map_alert(KITCHEN_SINK, **SETTINGS)
    broken = {**event, "unmapped": {}}
    table = _sliced_spool_table([event, broken], 2001)
    pairs = pa.array([[{"key": None, "value": "v"}]], type=table.schema.field("unmapped").type)
    table = table.set_column(table.schema.get_field_index("unmapped"), "unmapped", pa.chunked_array([pairs]))
    with pytest.raises(ConversionError, match="a key is null"):
        from_spool_table(table, 2001)


def test_events_to_table_rejects_values_out_of_range() -> None:
    event = map_alert(KITCHEN_SINK, **SETTINGS)
    with pytest.raises((pa.ArrowInvalid, OverflowError)):
        events_to_table([{**event, "risk_score": 2**31}], 2001)


def test_parquet_file_keeps_the_schema(tmp_path) -> None:
    table = events_to_table([map_alert(KITCHEN_SINK, class_uid=2004, **SETTINGS)], 2004)
    pq.write_table(table, tmp_path / "x.parquet")
    assert pq.read_schema(tmp_path / "x.parquet").equals(schema_for(2004))
