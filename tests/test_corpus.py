"""The alert test corpus under tests/data/alerts: well-formed, documented, and covering the issue's list.

Every corpus file is one Wazuh alert as the manager writes it. Other tests (mapping, Arrow schema,
benchmarks) read the corpus through ``corpus_files()``/``load_corpus()``; this module guards the corpus
itself, so that deleting or breaking a file that a coverage item depends on fails here, by name.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest

DATA_DIR = Path(__file__).parent / "data"
ALERTS_DIR = DATA_DIR / "alerts"
SOURCES_MD = DATA_DIR / "SOURCES.md"

# wazuh-integratord drops alerts larger than this (one JSON line in the temp .alert file).
INTEGRATORD_MAX_BYTES = 64 * 1024

SEED_SLUGS = ("seed-audit-crond", "seed-audit-bash", "seed-ciscat")


def corpus_files() -> list[Path]:
    """Return the corpus alert files, sorted by name."""
    return sorted(ALERTS_DIR.glob("*.json"))


def load_corpus() -> dict[str, dict[str, Any]]:
    """Return every corpus alert keyed by slug (file name without ``.json``)."""
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in corpus_files()}


def _sources_slugs() -> list[str]:
    """Slugs in the first column of the SOURCES.md table, in order."""
    slugs = []
    for line in SOURCES_MD.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*([a-z0-9][a-z0-9-]*)\s*\|", line)
        if match and match.group(1) != "slug":
            slugs.append(match.group(1))
    return slugs


def _get(alert: dict[str, Any], dotted: str) -> Any:
    node: Any = alert
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _mitre_ids(alert: dict[str, Any]) -> list[str]:
    ids = _get(alert, "rule.mitre.id")
    return ids if isinstance(ids, list) else []


def _agent_ip(alert: dict[str, Any]) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = _get(alert, "agent.ip")
    try:
        return ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _has_unicode_full_log(alert: dict[str, Any]) -> bool:
    log = alert.get("full_log")
    if not isinstance(log, str):
        return False
    accented = any("\u00c0" <= ch <= "\u024f" for ch in log)
    cjk = any("\u4e00" <= ch <= "\u9fff" for ch in log)
    astral = any(ord(ch) > 0xFFFF for ch in log)  # emoji outside the BMP: surrogate pairs in UTF-16
    return accented and cjk and astral


def _syscheck_event(event: str) -> Callable[[dict[str, Any]], bool]:
    return lambda a: _get(a, "syscheck.event") == event


def _modified_with_before_after(alert: dict[str, Any]) -> bool:
    sc = alert.get("syscheck")
    if not isinstance(sc, dict) or sc.get("event") != "modified":
        return False
    keys = [f"{k}_{w}" for k in ("size", "md5", "sha1", "sha256") for w in ("before", "after")]
    return all(sc.get(k) for k in keys) and isinstance(sc.get("changed_attributes"), list)


def _offset(suffix: str) -> Callable[[dict[str, Any]], bool]:
    return lambda a: isinstance(a.get("timestamp"), str) and a["timestamp"].endswith(suffix)


# name -> predicate over one alert; at least one corpus alert must satisfy each.
COVERAGE: dict[str, Callable[[dict[str, Any]], bool]] = {
    "syscheck event added": _syscheck_event("added"),
    "syscheck event modified with size/md5/sha1/sha256 before and after and changed_attributes":
        _modified_with_before_after,
    "syscheck event deleted": _syscheck_event("deleted"),
    "sshd authentication failure with srcip, srcport and a user": lambda a: (
        "sshd" in (_get(a, "rule.groups") or [])
        and "authentication_failed" in (_get(a, "rule.groups") or [])
        and bool(_get(a, "data.srcip"))
        and bool(_get(a, "data.srcport"))
        and bool(_get(a, "data.srcuser") or _get(a, "data.dstuser"))
    ),
    "sshd authentication success (5715)": lambda a: str(_get(a, "rule.id")) == "5715",
    "windows eventchannel with win.system and win.eventdata": lambda a: (
        bool(_get(a, "data.win.system.eventID"))
        and bool(_get(a, "data.win.system.providerName"))
        and bool(_get(a, "data.win.system.computer"))
        and bool(_get(a, "data.win.eventdata.targetUserName"))
        and bool(_get(a, "data.win.eventdata.ipAddress"))
        and bool(_get(a, "data.win.eventdata.logonType"))
    ),
    "aws cloudtrail": lambda a: (
        _get(a, "data.integration") == "aws"
        and _get(a, "data.aws.source") == "cloudtrail"
        and all(_get(a, f"data.aws.{k}") for k in ("eventName", "sourceIPAddress", "userIdentity", "awsRegion"))
    ),
    "aws cloudtrail assumed role with an error code, called by an AWS service": lambda a: (
        _get(a, "data.aws.userIdentity.type") == "AssumedRole"
        and bool(_get(a, "data.aws.userIdentity.sessionContext.sessionIssuer.arn"))
        and bool(_get(a, "data.aws.errorCode"))
        and str(_get(a, "data.aws.sourceIPAddress")).endswith(".amazonaws.com")
    ),
    "sysmon process creation with hashes and parent": lambda a: (
        _get(a, "data.win.system.providerName") == "Microsoft-Windows-Sysmon"
        and _get(a, "data.win.system.eventID") == "1"
        and all(_get(a, f"data.win.eventdata.{k}") for k in ("processGuid", "hashes", "parentProcessId", "parentImage"))
    ),
    "sysmon image loaded with hashes": lambda a: (
        _get(a, "data.win.system.eventID") == "7" and bool(_get(a, "data.win.eventdata.hashes"))
    ),
    "sysmon file created": lambda a: (
        _get(a, "data.win.system.eventID") == "11" and bool(_get(a, "data.win.eventdata.targetFilename"))
    ),
    "vulnerability detector 4.8+": lambda a: all(
        _get(a, f"data.vulnerability.{k}")
        for k in ("cve", "severity", "package.name", "package.version", "score.base", "score.version", "reference")
    ),
    "vulnerability detector 4.2-4.7 (cvss2 and cvss3 with string scores)": lambda a: all(
        isinstance(_get(a, f"data.vulnerability.cvss.{k}.base_score"), str) for k in ("cvss2", "cvss3")
    ),
    "vulnerability solved": lambda a: _get(a, "data.vulnerability.status") == "Solved",
    "sca check passed with compliance tags": lambda a: (
        _get(a, "data.sca.check.result") == "passed" and isinstance(_get(a, "data.sca.check.compliance"), dict)
    ),
    "windows logon success 4624": lambda a: _get(a, "data.win.system.eventID") == "4624",
    "windows logoff 4634": lambda a: _get(a, "data.win.system.eventID") == "4634",
    "fim registry value": lambda a: bool(_get(a, "syscheck.value_name")) and str(_get(a, "syscheck.path")).startswith(
        "HKEY_"
    ),
    "sca check": lambda a: (
        _get(a, "data.sca.type") == "check"
        and bool(_get(a, "data.sca.policy"))
        and all(_get(a, f"data.sca.check.{k}") for k in ("id", "title", "result"))
    ),
    "rootcheck 510 with data.title and data.file": lambda a: (
        str(_get(a, "rule.id")) == "510" and bool(_get(a, "data.title")) and bool(_get(a, "data.file"))
    ),
    "auditd with command, exe, pid, ppid, auid, euid, success": lambda a: all(
        _get(a, f"data.audit.{k}") for k in ("command", "exe", "pid", "ppid", "auid", "euid", "success")
    ),
    "virustotal positive": lambda a: all(
        _get(a, f"data.virustotal.{k}")
        for k in ("found", "malicious", "sha1", "permalink", "positives", "total",
                  "source.file", "source.md5", "source.sha1", "source.alert_id")
    ),
    "office365": lambda a: all(
        _get(a, f"data.office365.{k}") for k in ("Operation", "UserId", "ClientIP", "Workload", "RecordType")
    ),
    "docker": lambda a: all(
        _get(a, f"data.docker.{k}") for k in ("Action", "Actor.ID", "Actor.Attributes", "Type")
    ),
    "several MITRE techniques and several tactics": lambda a: (
        len(_mitre_ids(a)) >= 2 and len(_get(a, "rule.mitre.tactic") or []) >= 2
    ),
    "MITRE sub-technique": lambda a: any(re.fullmatch(r"T\d{4}\.\d{3}", i) for i in _mitre_ids(a)),
    "agent without ip": lambda a: isinstance(a.get("agent"), dict) and "ip" not in a["agent"],
    "agent 000 (the manager)": lambda a: _get(a, "agent.id") == "000",
    "cluster block": lambda a: bool(_get(a, "cluster.name")) and bool(_get(a, "cluster.node")),
    "previous_output, multi-line": lambda a: isinstance(a.get("previous_output"), str) and "\n" in a["previous_output"],
    "unicode in full_log (accents, CJK, emoji)": _has_unicode_full_log,
    "full_log of about 60,000 characters": lambda a: len(a.get("full_log") or "") >= 59_000,
    "no decoder key": lambda a: "decoder" not in a,
    "rule level 0": lambda a: _get(a, "rule.level") == 0,
    "rule level 15": lambda a: _get(a, "rule.level") == 15,
    "timestamp offset +0200": _offset("+0200"),
    "timestamp offset -0500": _offset("-0500"),
    "timestamp offset +00:00": _offset("+00:00"),
    "timestamp without milliseconds": lambda a: (
        isinstance(a.get("timestamp"), str)
        and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", a["timestamp"]) is not None
    ),
    "IPv6 agent.ip": lambda a: isinstance(_agent_ip(a), ipaddress.IPv6Address),
    "rule.id as a number": lambda a: isinstance(_get(a, "rule.id"), int),
    "data.source as an object": lambda a: isinstance(_get(a, "data.source"), dict),
    "data.source as a string": lambda a: isinstance(_get(a, "data.source"), str),
    "data.srcport as a string": lambda a: isinstance(_get(a, "data.srcport"), str),
    "seed sample alerts": lambda a: "@version" in a,
}


@pytest.fixture(scope="module")
def corpus() -> dict[str, dict[str, Any]]:
    return load_corpus()


def test_corpus_is_not_empty() -> None:
    assert len(corpus_files()) >= 25


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.stem)
def test_file_is_one_alert_object(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    alert = json.loads(text)  # exactly one JSON value, or this raises
    assert isinstance(alert, dict)
    assert isinstance(alert.get("rule"), dict)
    assert isinstance(alert.get("timestamp"), str)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", path.stem), "slugs are lower-case words joined by '-'"


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.stem)
def test_file_fits_integratord_limit(path: Path) -> None:
    alert = json.loads(path.read_text(encoding="utf-8"))
    line = json.dumps(alert, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert len(line) < INTEGRATORD_MAX_BYTES


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.stem)
def test_manager_fields_have_wazuh_types(path: Path) -> None:
    """Apart from the deliberate quirks, fields carry the types the manager writes."""
    alert = json.loads(path.read_text(encoding="utf-8"))
    rule = alert["rule"]
    assert isinstance(rule.get("level"), int)
    assert isinstance(rule.get("description"), str)
    assert isinstance(rule.get("id"), (str, int))
    if "firedtimes" in rule:
        assert isinstance(rule["firedtimes"], int)
    if "agent" in alert:
        assert re.fullmatch(r"\d{3,}", alert["agent"]["id"])
    if "id" in alert and path.stem not in SEED_SLUGS:
        epoch, _, offset = alert["id"].partition(".")
        assert epoch.isdigit() and offset.isdigit()
    if "mitre" in rule:
        assert all(isinstance(rule["mitre"][k], list) for k in ("id", "tactic", "technique"))
        assert len(rule["mitre"]["id"]) == len(rule["mitre"]["technique"])


def test_seed_files_match_shared_seed_alerts(corpus: dict[str, dict[str, Any]]) -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "wazuh" / "seed_sample_alerts.ndjson"
    if not shared.is_file():
        pytest.skip(f"shared seed alerts not found at {shared}")
    seeds = [json.loads(line) for line in shared.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert [corpus[slug] for slug in SEED_SLUGS] == seeds


def test_every_file_is_listed_in_sources() -> None:
    listed = set(_sources_slugs())
    missing = sorted(p.stem for p in corpus_files() if p.stem not in listed)
    assert missing == [], f"add these slugs to {SOURCES_MD}"


def test_every_sources_row_names_an_existing_file() -> None:
    slugs = _sources_slugs()
    assert len(slugs) == len(set(slugs)), "a slug is listed twice in SOURCES.md"
    dangling = sorted(s for s in slugs if not (ALERTS_DIR / f"{s}.json").is_file())
    assert dangling == []


@pytest.mark.parametrize("item", sorted(COVERAGE))
def test_coverage_item_present(item: str, corpus: dict[str, dict[str, Any]]) -> None:
    predicate = COVERAGE[item]
    assert any(predicate(alert) for alert in corpus.values()), f"no corpus alert covers: {item}"


def test_coverage_predicates_can_fail(corpus: dict[str, dict[str, Any]]) -> None:
    """Each coverage predicate rejects some corpus alert, so none is vacuously true."""
    always_true = sorted(item for item, pred in COVERAGE.items() if all(pred(a) for a in corpus.values()))
    assert always_true == []
