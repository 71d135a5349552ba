"""README's Athena queries (``queries/<class>/*.sql``): each parses as Trino SQL and returns the right rows.

Athena engine 3 is Trino. moto's Athena does not execute SQL, so each file runs in DuckDB over a
tree the real flusher wrote, after the mechanical translation ``queries/README.md`` documents
(:func:`athena_to_duckdb`): the table name becomes the tree, and three functions that the two
dialects name differently are renamed. Nothing else changes. The expected rows are computed
here in Python from the events themselves.
"""

from __future__ import annotations

import collections
import datetime
import time
from pathlib import Path

import duckdb
import pytest
import sqlglot
from flush_support import DAY_MS, corpus_events, make_settings, spool_events, varied

from wazuh_ocsf.flush.flusher import flush
from wazuh_ocsf.sinks.local import LocalSink

QUERIES = Path(__file__).resolve().parents[1] / "queries"
#: The table every query names: Security Lake's names for source "wazuh" in us-east-1.
ATHENA_TABLE = "amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_ext_wazuh"
#: Trino function → DuckDB function of the same meaning and arguments.
RENAMES = {"date_format(": "strftime(", "from_unixtime(": "to_timestamp(", "element_at(": "map_extract_value("}
CLASSES = {"security_finding": (2001, "wazuh"), "detection_finding": (2004, "wazuhdet")}
NOW_MS = int(time.time() * 1000)


def athena_to_duckdb(sql: str, source_root: Path) -> str:
    """The documented translation: the table → the source's tree (partition values as strings), renames."""
    assert sql.count(ATHENA_TABLE) == 1, "every query names the table exactly once"
    tree = (f"read_parquet('{source_root}/**/*.parquet', hive_partitioning = true, "
            "hive_types_autocast = false)")
    sql = sql.replace(ATHENA_TABLE, tree)
    for trino, duck in RENAMES.items():
        sql = sql.replace(trino, duck)
    return sql


def all_queries() -> list:
    return [(name, path) for name in CLASSES for path in sorted((QUERIES / name).glob("*.sql"))]


def test_every_class_has_the_same_queries():
    names = {name: sorted(p.name for p in (QUERIES / name).glob("*.sql")) for name in CLASSES}
    assert names["security_finding"] == names["detection_finding"] == [
        "agent_findings.sql", "attack_techniques.sql", "open_cves_by_cvss.sql", "severity_per_day.sql",
        "top_rules.sql",
    ]


@pytest.mark.parametrize(("class_name", "path"), all_queries(), ids=lambda v: getattr(v, "name", v))
def test_each_query_is_one_trino_statement_on_the_source_table(class_name, path):
    sql = path.read_text()
    statements = sqlglot.parse(sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    assert len([s for s in statements if s is not None]) == 1
    tables = {".".join(p for p in (t.db, t.name) if p) for t in statements[0].find_all(sqlglot.exp.Table)}
    assert ATHENA_TABLE in tables
    assert sql.lstrip().startswith("--"), "each query says what it answers"


def test_the_trino_check_refuses_broken_syntax():
    """sqlglot checks syntax, more leniently than Athena; running each query (below) checks the rest."""
    for bad in ("SELECT a FROM t WHERE", "SELECT a b c FROM t", "SELECT (a FROM t", "SELECT unmapped['x' FROM t"):
        with pytest.raises(sqlglot.errors.ParseError):
            sqlglot.parse(bad, read="trino", error_level=sqlglot.ErrorLevel.RAISE)


def day_of(time_ms: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime(time_ms / 1000))


def the_events(class_uid: int) -> tuple:
    """(recent, old): the corpus twice within the last 3 days, and once 30 days ago; plus a solved CVE."""
    corpus = corpus_events(class_uid)
    recent = [varied(e, i, time_ms=NOW_MS - (i % 3) * DAY_MS - 1000 * i) for i, e in enumerate(corpus * 2)]
    old = [varied(e, f"old{i}", time_ms=NOW_MS - 30 * DAY_MS) for i, e in enumerate(corpus)]
    vulnerable = [e for e in recent if e.get("vulnerabilities")]
    assert vulnerable, "the corpus has a vulnerability alert"
    # the same CVE on another agent, solved after it was detected
    other = {**vulnerable[0], "unmapped": dict(vulnerable[0]["unmapped"])}
    agent_key = "device" if class_uid == 2004 else "resources"
    if class_uid == 2004:
        other["device"] = {**other["device"], "name": "db-02", "uid": "002"}
    else:
        other["resources"] = [{**other["resources"][0], "name": "db-02", "uid": "002"}]
    detected = varied(other, "det", time_ms=NOW_MS - 2 * DAY_MS)
    solved = varied(other, "sol", time_ms=NOW_MS - DAY_MS)
    solved["unmapped"] = {**solved["unmapped"], "data.vulnerability.status": "Solved"}
    assert agent_key in detected
    return [*recent, detected, solved], old


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict:
    """class name → (source root, recent events, old events), flushed by the real flusher."""
    tmp_path = tmp_path_factory.mktemp("athena")
    settings = make_settings(tmp_path)
    out = tmp_path / "lake"
    result = {}
    events = []
    for name, (class_uid, source) in CLASSES.items():
        recent, old = the_events(class_uid)
        events += recent + old
        result[name] = (out / "ext" / source, recent, old)
    spool_events(settings, events)
    assert flush(settings, [LocalSink(settings, out)]).ok
    return result


def run(class_name: str, query: str, trees: dict) -> list:
    root = trees[class_name][0]
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")  # Athena's current_date is UTC
    sql = athena_to_duckdb((QUERIES / class_name / query).read_text(), root)
    return connection.sql(sql).to_arrow_table().to_pylist()


def rule_of(event: dict) -> dict:
    return (event.get("finding_info") or event)["analytic"]


@pytest.mark.parametrize("class_name", CLASSES)
def test_severity_per_day_counts_the_last_7_days_only(trees, class_name):
    _, recent, _ = trees[class_name]
    rows = run(class_name, "severity_per_day.sql", trees)
    counts = collections.Counter((day_of(e["time"]), e["severity"]) for e in recent)
    assert {(r["eventDay"], r["severity"]): r["events"] for r in rows} == dict(counts)
    assert [r["eventDay"] for r in rows] == sorted(r["eventDay"] for r in rows)


@pytest.mark.parametrize("class_name", CLASSES)
def test_top_rules(trees, class_name):
    _, recent, _ = trees[class_name]
    rows = run(class_name, "top_rules.sql", trees)
    counts = collections.Counter((rule_of(e)["uid"], rule_of(e)["name"]) for e in recent)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))[:10]
    assert [(r["rule_id"], r["rule"], r["events"]) for r in rows] == [(u, n, c) for (u, n), c in top]
    worst = {rule_of(e)["uid"]: 0 for e in recent}
    for event in recent:
        worst[rule_of(event)["uid"]] = max(worst[rule_of(event)["uid"]], event["severity_id"])
    assert all(r["max_severity_id"] == worst[r["rule_id"]] for r in rows)


@pytest.mark.parametrize("class_name", CLASSES)
def test_attack_techniques_unnests_every_technique(trees, class_name):
    _, recent, _ = trees[class_name]
    rows = run(class_name, "attack_techniques.sql", trees)
    counts = collections.Counter()
    for event in recent:
        for attack in (event.get("finding_info") or event).get("attacks") or []:
            if attack.get("technique", {}).get("uid"):
                entity = attack.get("sub_technique") or attack["technique"]
                counts[(entity["uid"], entity.get("name"))] += 1
    assert counts, "the corpus has ATT&CK techniques"
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))[:20]
    assert [(r["technique_id"], r["technique"], r["events"]) for r in rows] == [(u, n, c) for (u, n), c in top]


@pytest.mark.parametrize("class_name", CLASSES)
def test_one_agents_findings_newest_first(trees, class_name):
    _, recent, _ = trees[class_name]
    rows = run(class_name, "agent_findings.sql", trees)

    def agent(event):
        if class_name == "detection_finding":
            return (event.get("device") or {}).get("name")
        return next((r["name"] for r in event.get("resources") or [] if r.get("type") == "Wazuh agent"), None)

    mine = sorted((e for e in recent if agent(e) == "web-01"), key=lambda e: (-e["time"], rule_of(e)["uid"]))
    assert mine, "the corpus has findings of agent web-01"
    assert [r["rule_id"] for r in rows] == [rule_of(e)["uid"] for e in mine]
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    assert rows[0]["time_utc"] == epoch + datetime.timedelta(milliseconds=mine[0]["time"])


@pytest.mark.parametrize("class_name", CLASSES)
def test_open_cves_by_cvss_leaves_out_the_solved_ones(trees, class_name):
    rows = run(class_name, "open_cves_by_cvss.sql", trees)
    # ubuntu-20's curl CVE (a 4.7 alert: CVSS 2 10.0 and CVSS 3 9.8, the highest shown) is still Active;
    # db-02's copy of it was solved later, so one agent is left. web-01's openssh CVE is left out: the
    # corpus's "solved" alert is its latest status.
    assert rows == [{"cve": "CVE-2023-38545", "package": "curl", "severity": "Critical", "cvss": 10.0, "agents": 1}]
