"""Our Arrow schema as Glue types, and the table-compatibility check (``wazuh_ocsf.lake.glue_schema``).

The "crawler's table" is built the way Security Lake's Glue crawler infers it: from the schema
of a Parquet object the flusher really wrote (read back with pyarrow), Parquet types → Hive
types, names lower-cased, and the ``region``/``accountId``/``eventDay`` directories as string
partition keys.
"""

from __future__ import annotations

import copy

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from flush_support import make_events, make_settings, spool_events

from wazuh_ocsf.flush.arrow_schema import schema_for
from wazuh_ocsf.flush.flusher import flush
from wazuh_ocsf.lake.glue_schema import compare, glue_columns, glue_type, parse_hive_type, partition_keys
from wazuh_ocsf.sinks.local import LocalSink


def crawled_table(tmp_path, class_uid: int) -> tuple:
    """(columns, partition keys) inferred from one object the flusher wrote, as the crawler does."""
    settings = make_settings(tmp_path)
    spool_events(settings, make_events(20, class_uid=class_uid, days=1))
    out = tmp_path / "lake"
    assert flush(settings, [LocalSink(settings, out)]).ok
    path = next(out.rglob("*.parquet"))
    keys = [part.split("=", 1)[0].lower() for part in path.relative_to(out).parts if "=" in part]
    assert keys == ["region", "accountid", "eventday"]
    return glue_columns(pq.read_schema(path)), [{"Name": key, "Type": "string"} for key in keys]


@pytest.mark.parametrize("class_uid", [2001, 2004])
def test_the_crawlers_table_of_our_parquet_reads_every_column(tmp_path, class_uid):
    columns, partitions = crawled_table(tmp_path, class_uid)
    assert columns == glue_columns(schema_for(class_uid))
    assert partitions == partition_keys()
    assert compare(schema_for(class_uid), columns, partitions) == []


def test_glue_types_of_the_columns_athena_queries_use():
    types = {c["Name"]: c["Type"] for c in glue_columns(schema_for(2004))}
    assert types["time"] == "bigint"
    assert types["severity_id"] == "int"
    assert types["unmapped"] == "map<string,string>"
    assert types["finding_info"].startswith("struct<uid:string,title:string,types:array<string>,analytic:struct<")
    assert "attacks:array<struct<technique:struct<uid:string,name:string>," in types["finding_info"]
    assert glue_type(pa.timestamp("ms")) == "timestamp"
    with pytest.raises(ValueError, match="no Glue type"):
        glue_type(pa.date32())


def test_parse_hive_type_round_trips_and_refuses_garbage():
    for column in glue_columns(schema_for(2001)) + glue_columns(schema_for(2004)):
        assert str(parse_hive_type(column["Type"])) == column["Type"]
    assert str(parse_hive_type("struct<a : decimal(10,2), b:array<map<string,int>>>")) == (
        "struct<a:decimal(10,2),b:array<map<string,int>>>"
    )
    for bad in ("struct<a:int", "array<>", "map<string>", "struct<a:int>x", ""):
        with pytest.raises(ValueError):
            parse_hive_type(bad)


def drifted(columns: list, name: str, old: str, new: str) -> list:
    columns = copy.deepcopy(columns)
    for column in columns:
        if column["Name"] == name:
            assert old in column["Type"], column["Type"]
            column["Type"] = column["Type"].replace(old, new, 1)
    return columns


def test_a_drifted_table_is_reported_column_by_column():
    schema = schema_for(2004)
    good, keys = glue_columns(schema), partition_keys()
    # a column the table lacks
    assert compare(schema, [c for c in good if c["Name"] != "device"], keys) == [
        "device: missing from the table, so Athena never returns it"
    ]
    # a top-level type changed
    assert compare(schema, drifted(good, "time", "bigint", "timestamp"), keys) == [
        "time: the table has timestamp, our Parquet bigint"
    ]
    # a field deep inside a struct inside an array inside a struct
    assert compare(schema, drifted(good, "finding_info", "tactic:struct<uid:string,name:string>",
                                   "tactic:struct<uid:string>"), keys) == [
        "finding_info.attacks[].tactic.name: missing from the table's struct, so Athena never returns it"
    ]
    assert compare(schema, drifted(good, "evidences", "pid:int", "pid:string"), keys) == [
        "evidences[].process.pid: the table has string, our Parquet int"
    ]
    assert compare(schema, drifted(good, "unmapped", "map<string,string>", "map<string,int>"), keys) == [
        "unmapped.value: the table has int, our Parquet string"
    ]
    # the eventDay partition key missing
    assert compare(schema, good, keys[:2]) == [
        "eventday: not a partition key of the table (Security Lake partitions by eventday)"
    ]


def test_widening_and_extra_columns_are_harmless_narrowing_is_not():
    schema = schema_for(2001)
    good, keys = glue_columns(schema), partition_keys()
    wider = drifted(good, "severity_id", "int", "bigint")
    extra = [*good, {"Name": "finding_info", "Type": "struct<uid:string>"}]
    extra = drifted(extra, "finding", "struct<uid:string,", "struct<uid:string,extra:int,")
    assert compare(schema, wider, keys) == []
    assert compare(schema, extra, keys) == []
    assert compare(schema, drifted(good, "time", "bigint", "int"), keys) == [
        "time: the table has int, our Parquet bigint"
    ]
    # a table of the other class: everything class-specific is reported
    problems = compare(schema, glue_columns(schema_for(2004)), keys)
    assert "finding: missing from the table, so Athena never returns it" in problems
    assert "state_id: missing from the table, so Athena never returns it" in problems
