"""Every mapped corpus event, of every class, is valid OCSF 1.1.0 after a Parquet round trip.

The JSON Schema comes from the PyPI package ``ocsf-json-schema`` for the class and the
profiles the event declares, validated with ``jsonschema`` (Draft 2020-12). The event is
first written through the Arrow schema to Parquet and read back with nulls removed, so
what is validated is what Security Lake will hold. The checks a JSON Schema cannot express
(type_uid arithmetic, names that must match their ids) follow.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

if sys.version_info < (3, 10):
    pytest.skip("ocsf-json-schema needs Python 3.10 or later", allow_module_level=True)

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a test dependency")
ocsf_json_schema = pytest.importorskip("ocsf_json_schema", reason="ocsf-json-schema is a test dependency")
pytest.importorskip("pyarrow", reason="pyarrow is needed for the Parquet round trip")

from ocsf_events import CLASS_UIDS, map_corpus, parquet_round_trip  # noqa: E402

from wazuh_ocsf.mapping import CLASS_NAMES  # noqa: E402

SHARED_OCSF = Path(__file__).resolve().parents[2] / "shared" / "ocsf" / "1.1.0"

FINDING_ACTIVITIES = {0: "Unknown", 1: "Create", 2: "Update", 3: "Close", 99: "Other"}
SEVERITY_NAMES = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal"}
STATE_NAMES = {0: "Unknown", 1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved"}
RESULT_NAMES = {0: "Unknown", 1: "Success", 2: "Failure", 99: "Other"}
# class_uid → (caption, (category_uid, category_name), activity names, status names or None)
CLASSES = {
    2001: ("Security Finding", (2, "Findings"), FINDING_ACTIVITIES, STATE_NAMES),
    2002: ("Vulnerability Finding", (2, "Findings"), FINDING_ACTIVITIES, STATE_NAMES),
    2003: ("Compliance Finding", (2, "Findings"), FINDING_ACTIVITIES, STATE_NAMES),
    2004: ("Detection Finding", (2, "Findings"), FINDING_ACTIVITIES, STATE_NAMES),
    1001: ("File System Activity", (1, "System Activity"), {1: "Create", 2: "Read", 3: "Update", 4: "Delete"}, None),
    3002: ("Authentication", (3, "Identity & Access Management"), {1: "Logon", 2: "Logoff"}, RESULT_NAMES),
}
COMPLIANCE_STATUS = {0: "Unknown", 1: "Pass", 2: "Warning", 3: "Fail", 99: "Other"}
LOGON_TYPES = {2: "Interactive", 3: "Network", 4: "Batch", 5: "OS Service", 7: "Unlock", 8: "Network Cleartext",
               9: "New Credentials", 10: "Remote Interactive", 11: "Cached Interactive",
               12: "Cached Remote Interactive", 13: "Cached Unlock"}
OBSERVABLE_TYPES = {1: "Hostname", 2: "IP Address", 4: "User Name", 6: "URL String", 7: "File Name", 8: "Hash",
                    9: "Process Name", 28: "Registry Key"}
FINGERPRINTS = {1: "MD5", 2: "SHA-1", 3: "SHA-256"}  # 99 (Other): the source names the algorithm
INTEGRITY_LEVELS = {1: "Untrusted", 2: "Low", 3: "Medium", 4: "High", 5: "System", 6: "Protected"}
ACCOUNT_TYPES = {10: "AWS Account"}
DEVICE_TYPES = {0: "Unknown", 1: "Server"}
FILE_TYPES = {1: "Regular File", 99: ("Registry Key", "Registry Value")}


@pytest.fixture(scope="module")
def validators() -> dict:
    """(class name, profiles) → Draft 2020-12 validator, built on first use."""
    embedded = ocsf_json_schema.OcsfJsonSchemaEmbedded(ocsf_json_schema.get_ocsf_schema(version="1.1.0"))
    cache: dict = {}

    def get(class_uid: int, profiles: tuple):
        key = (class_uid, profiles)
        if key not in cache:
            schema = embedded.get_class_schema(CLASS_NAMES[class_uid], profiles=list(profiles))
            jsonschema.Draft202012Validator.check_schema(schema)
            cache[key] = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        return cache[key]

    return get


@pytest.fixture(scope="module", params=CLASS_UIDS, ids=lambda uid: CLASS_NAMES[uid])
def round_tripped(request, tmp_path_factory) -> tuple:
    """(class_uid, {slug: event after Parquet}) for the whole corpus."""
    class_uid = request.param
    events = map_corpus(class_uid)
    back = parquet_round_trip(list(events.values()), class_uid, tmp_path_factory.mktemp("parquet"))
    return class_uid, dict(zip(events, back))


def test_corpus_events_validate_against_ocsf_json_schema(round_tripped: tuple, validators) -> None:
    class_uid, events = round_tripped
    failures = []
    for slug, event in events.items():
        validator = validators(class_uid, tuple(event["metadata"].get("profiles", ())))
        failures += [f"{slug}: {'/'.join(map(str, error.absolute_path))}: {error.message[:300]}"
                     for error in validator.iter_errors(event)]
    assert failures == []


def test_validator_rejects_a_broken_event(round_tripped: tuple, validators) -> None:
    """The schema is strict enough to matter: a wrong type, an unknown attribute, a seconds ``time``."""
    class_uid, events = round_tripped
    event = json.loads(json.dumps(next(iter(events.values()))))
    validator = validators(class_uid, tuple(event["metadata"].get("profiles", ())))
    assert validator.is_valid(event)
    assert not validator.is_valid({**event, "severity_id": "2"})
    assert not validator.is_valid({**event, "not_an_ocsf_attribute": 1})
    assert not validator.is_valid({**event, "class_uid": 2005})
    assert not validator.is_valid({key: value for key, value in event.items() if key != "metadata"})


def _files(event: dict) -> list:
    files = [event.get("file"), event.get("file_result"), event.get("actor", {}).get("process", {}).get("file"),
             event.get("process", {}).get("file")]
    for evidence in event.get("evidences", []):
        process = evidence.get("process", {})
        files += [evidence.get("file"), process.get("file"), process.get("parent_process", {}).get("file")]
    return [file for file in files if file]


def _check_evidence_captions(event: dict, slug: str) -> None:
    for evidence in event.get("evidences", []):
        process = evidence.get("process", {})
        if "integrity_id" in process:
            expected = INTEGRITY_LEVELS.get(process["integrity_id"])
            assert process["integrity"] == expected or (process["integrity_id"] == 99 and process["integrity"]), slug
        account = evidence.get("actor", {}).get("user", {}).get("account")
        if account is not None and "type_id" in account:
            assert account["type"] == ACCOUNT_TYPES[account["type_id"]], slug


def test_checks_json_schema_cannot_express(round_tripped: tuple) -> None:
    class_uid, events = round_tripped
    caption, category, activities, statuses = CLASSES[class_uid]
    for slug, event in events.items():
        activity = activities[event["activity_id"]]
        assert event["class_uid"] == class_uid, slug
        assert event["class_name"] == caption, slug
        assert (event["category_uid"], event["category_name"]) == category, slug
        assert event["type_uid"] == class_uid * 100 + event["activity_id"], slug
        assert event["type_name"] == f"{caption}: {activity}", slug
        assert event["activity_name"] == activity, slug
        assert event["severity"] == SEVERITY_NAMES[event["severity_id"]], slug
        if class_uid == 2001:
            assert event["state"] == STATE_NAMES[event["state_id"]], slug
            assert "status_id" not in event, slug
        elif statuses is not None:
            assert event["status"] == statuses[event["status_id"]], slug
        if class_uid in (2002, 2003, 2004, 3002):
            assert ("device" in event) == (event["metadata"].get("profiles") == ["host"]), slug
        assert 10**12 < event["time"] < 10**13, f"{slug}: time is not epoch milliseconds"
        assert event["metadata"]["version"] == "1.1.0", slug
        for observable in event.get("observables", []):
            assert observable["type"] == OBSERVABLE_TYPES[observable["type_id"]], slug
        for file in _files(event):
            names = FILE_TYPES[file["type_id"]]
            assert file["type"] in (names if isinstance(names, tuple) else (names,)), slug
            for digest in file.get("hashes", []):
                if digest["algorithm_id"] == 99:
                    assert digest["algorithm"], slug
                else:
                    assert digest["algorithm"] == FINGERPRINTS[digest["algorithm_id"]], slug
        _check_evidence_captions(event, slug)
        if "device" in event:
            assert event["device"]["type"] == DEVICE_TYPES[event["device"]["type_id"]], slug
        analytic = event.get("analytic") or event.get("finding_info", {}).get("analytic")
        if analytic:
            assert (analytic["type_id"], analytic["type"]) == (1, "Rule"), slug
        compliance = event.get("compliance")
        if class_uid == 2003:
            assert compliance["status"] == COMPLIANCE_STATUS[compliance["status_id"]], slug
        if "logon_type_id" in event:
            assert event["logon_type"] == LOGON_TYPES[event["logon_type_id"]], slug


@pytest.mark.parametrize("class_uid", (2001, 2004), ids=lambda uid: CLASS_NAMES[uid])  # ../shared has these
def test_generated_schema_matches_the_shared_reference(class_uid: int) -> None:
    """The package's schema equals the reference copy in ../shared (same OCSF 1.1.0 build)."""
    profiles = [] if class_uid == 2001 else ["host"]
    name = f"{CLASS_NAMES[class_uid]}{'.' + '+'.join(profiles) if profiles else ''}.schema.json"
    path = SHARED_OCSF / name
    if not path.is_file():
        pytest.skip(f"reference schema {path} is not beside the checkout")
    embedded = ocsf_json_schema.OcsfJsonSchemaEmbedded(ocsf_json_schema.get_ocsf_schema(version="1.1.0"))
    generated = embedded.get_class_schema(CLASS_NAMES[class_uid], profiles=profiles)
    reference = json.loads(path.read_text())
    assert generated["properties"].keys() == reference["properties"].keys()
    assert generated["required"] == reference["required"]
