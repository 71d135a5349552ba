"""The finding classes mean what OCSF means (issue #18): field tests and corpus-wide checks.

Standard library only (runs under Python 3.9 too).
"""

from __future__ import annotations

import copy

import pytest
from ocsf_events import CASES, SETTINGS
from test_corpus import load_corpus
from test_mapping import alert

from wazuh_ocsf.mapping import map_alert

CORPUS = load_corpus()
BOTH = (2001, 2004)
# Top-level keys of Wazuh alerts: an observable name starting with one is an alert path.
ALERT_KEYS = frozenset({"agent", "data", "syscheck", "rule", "manager", "decoder", "predecoder", "location",
                        "full_log", "id", "timestamp", "cluster", "input", "previous_output", "previous_log"})


def values_at(event: dict, name: str) -> list:
    """The test's own reading of an observable name: a dotted OCSF path, arrays walked
    through; ``unmapped.<key>`` is one key of ``unmapped`` (its keys are dotted alert paths)."""
    if name.startswith("unmapped."):
        value = event.get("unmapped", {}).get(name[len("unmapped."):])
        return [] if value is None else [value]
    found = [event]
    for key in name.split("."):
        found = [item[key] for value in found for item in (value if isinstance(value, list) else [value])
                 if isinstance(item, dict) and key in item]
    return [item for value in found for item in (value if isinstance(value, list) else [value])]


# -- 1. count ------------------------------------------------------------------------------------


@pytest.mark.parametrize("class_uid", BOTH)
def test_firedtimes_is_not_count(class_uid: int) -> None:
    """``rule.firedtimes`` is analysisd's counter since it started, not a count for the event's window."""
    event = map_alert(CORPUS["vulnerability-detected-4-8"], class_uid=class_uid)
    assert "count" not in event
    assert event["unmapped"]["rule.firedtimes"] == str(CORPUS["vulnerability-detected-4-8"]["rule"]["firedtimes"])


# -- 2. what the alert is about ------------------------------------------------------------------


@pytest.mark.parametrize("class_uid", BOTH)
def test_cloudtrail_alert_is_about_the_account_and_user_not_the_manager(class_uid: int) -> None:
    event = map_alert(CORPUS["aws-cloudtrail-createuser"], class_uid=class_uid)
    assert "device" not in event and event["metadata"]["profiles"] == ["cloud"]
    assert event["cloud"] == {"provider": "AWS", "region": "us-east-1",
                              "account": {"uid": "111122223333", "type_id": 10, "type": "AWS Account"}}
    assert event["resources"] == [
        {"name": "svc-backup", "type": "AWS::IAM::User", "region": "us-east-1"},
        {"uid": "111122223333", "type": "AWS account", "region": "us-east-1"},
    ]
    assert event["metadata"]["loggers"] == [
        {"uid": "000", "name": "wazuh-server",
         "device": {"uid": "000", "name": "wazuh-server", "type_id": 1, "type": "Server"}},
        {"name": "wazuh-server"},  # the manager (manager.name), always the last logger
    ]


@pytest.mark.parametrize("class_uid", BOTH)
def test_office365_alert_is_about_the_object_and_tenant(class_uid: int) -> None:
    event = map_alert(CORPUS["office365-add-user"], class_uid=class_uid)
    assert "device" not in event
    assert event["resources"] == [
        {"name": "testuser@example.com", "type": "Office 365 AzureActiveDirectory object"},
        {"uid": "0fea4e03-8146-453b-b889-54b4bd11565b", "type": "Office 365 tenant"},
    ]
    assert event["metadata"]["loggers"][0]["name"] == "wazuh-server"


@pytest.mark.parametrize(
    ("data", "resources"),
    [
        ({"integration": "github", "github": {"org": "acme", "repo": "acme/api", "action": "repo.destroy"}},
         [{"name": "acme/api", "type": "GitHub repository"}, {"name": "acme", "type": "GitHub organization"}]),
        ({"integration": "gcp", "gcp": {"resource": {"type": "gce_instance", "labels": {"project_id": "prj-1"}},
                                        "protoPayload": {"resourceName": "projects/prj-1/instances/vm-1"}}},
         [{"name": "projects/prj-1/instances/vm-1", "type": "gce_instance"}, {"uid": "prj-1", "type": "GCP project"}]),
        ({"integration": "aws", "aws": {"source": "guardduty", "accountId": "111122223333", "region": "eu-west-1",
                                        "resource": {"instanceDetails": {"instanceId": "i-0abc"}}}},
         [{"uid": "i-0abc", "type": "AWS::EC2::Instance", "region": "eu-west-1"},
          {"uid": "111122223333", "type": "AWS account", "region": "eu-west-1"}]),
        ({"integration": "aws", "aws": {"source": "macie", "resourcesAffected": {"s3Bucket": {"name": "logs"}}}},
         [{"name": "logs", "type": "AWS::S3::Bucket"}]),
        ({"azure_tag": "azure-log-analytics", "tenantId": "t-1"}, [{"uid": "t-1", "type": "Azure tenant"}]),
    ],
)
@pytest.mark.parametrize("class_uid", BOTH)
def test_module_alerts_name_their_target_and_log_the_agent(data: dict, resources: list, class_uid: int) -> None:
    event = map_alert(alert(agent={"id": "000", "name": "wazuh-server"}, data=data, location="cloud"),
                      class_uid=class_uid)
    assert event["resources"] == resources
    provider = {"aws": "AWS", "gcp": "GCP"}.get(data.get("integration"), "Azure" if "azure_tag" in data else None)
    assert event.get("cloud", {}).get("provider") == provider
    assert event["metadata"].get("profiles") == (["cloud"] if provider else None)
    assert "device" not in event
    assert [logger.get("uid") for logger in event["metadata"]["loggers"]] == ["000", None]


@pytest.mark.parametrize("class_uid", BOTH)
def test_remote_syslog_alert_is_about_the_sending_host(class_uid: int) -> None:
    source = alert(agent={"id": "000", "name": "wazuh-server"}, location="192.0.2.9",
                   predecoder={"hostname": "fw-edge-1", "program_name": "sshd"})
    event = map_alert(source, class_uid=class_uid)
    assert event["resources"] == [{"name": "fw-edge-1", "type": "Host"}]
    assert event["metadata"]["loggers"][0]["name"] == "wazuh-server"
    if class_uid == 2004:
        assert event["device"] == {"hostname": "fw-edge-1", "ip": "192.0.2.9", "type_id": 0, "type": "Unknown"}
    # The agent's own syslog (hostname = agent name, short or fully qualified) is about the agent.
    for hostname in ("web-01", "WEB-01.corp.example"):
        event = map_alert(alert(predecoder={"hostname": hostname}), class_uid=class_uid)
        assert event["metadata"]["loggers"] == [{"name": "wazuh-server"}]
        assert event["resources"][0]["name"] == "web-01"
    # What the predecoder took for a host name but is none (a real 4.14.7 alert: "Info:") stays unmapped.
    for word in ("Info:", "-edge", "a..b", "fw_1"):
        event = map_alert(alert(agent={"id": "000", "name": "wazuh-server"}, predecoder={"hostname": word}),
                          class_uid=class_uid)
        assert event["resources"][0]["name"] == "wazuh-server"
        assert event["unmapped"]["predecoder.hostname"] == word


@pytest.mark.parametrize("class_uid", BOTH)
def test_virustotal_alert_keeps_the_agent_whose_file_was_looked_up(class_uid: int) -> None:
    event = map_alert(CORPUS["virustotal-malicious"], class_uid=class_uid)
    assert event["resources"][0]["uid"] == "010"
    assert [logger.get("uid") for logger in event["metadata"]["loggers"]] == [None]  # the manager only


# -- 3. observables ------------------------------------------------------------------------------


@pytest.mark.parametrize(("slug", "class_uid"), CASES)
def test_observable_names_point_into_the_same_event(slug: str, class_uid: int) -> None:
    """Corpus-wide: no observable name is an alert path; each resolves to an attribute of the
    same event holding its value; a registry path is never a File Name."""
    event = map_alert(CORPUS[slug], class_uid=class_uid, **SETTINGS)
    for observable in event.get("observables", []):
        name, value = observable["name"], observable["value"]
        assert name.split(".", 1)[0] not in ALERT_KEYS, (slug, name)
        assert name.split(".", 1)[0] in event, (slug, name)
        assert value in values_at(event, name), (slug, name, value)
        if value.upper().startswith("HKEY_"):
            assert (observable["type_id"], observable["type"]) == (28, "Registry Key"), (slug, name)


def test_registry_key_observable() -> None:
    event = map_alert(CORPUS["fim-registry-value-modified"], class_uid=2004)
    registry = [item for item in event["observables"] if item["type_id"] == 28]
    assert registry and all(item["value"].startswith("HKEY_") and item["type"] == "Registry Key" for item in registry)


def test_resolve_walks_arrays_and_reads_unmapped_keys_whole() -> None:
    from wazuh_ocsf.mapping.observables import resolve

    event = {"evidences": [{"file": {"hashes": [{"value": "a"}, {"value": "b"}]}}, {}],
             "unmapped": {"data.srcip": "192.0.2.1"}}
    assert resolve(event, "evidences.file.hashes.value") == ["a", "b"]
    assert resolve(event, "unmapped.data.srcip") == ["192.0.2.1"]
    assert resolve(event, "unmapped.data") == [] and resolve(event, "device.name") == []


# -- 4. nist -------------------------------------------------------------------------------------


def test_nist_is_not_fed_from_sp_800_53() -> None:
    source = copy.deepcopy(CORPUS["sshd-auth-failed"])
    source["rule"]["nist_800_53"] = ["AU.14", "AC.7"]
    event = map_alert(source)
    assert "nist" not in event
    assert "NIST SP 800-53 AC.7" in event["compliance"]["requirements"]


# -- 5. metadata.event_code ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "code"),
    [("windows-logon-success-4624", "4624"), ("aws-cloudtrail-createuser", "CreateUser"),
     ("office365-add-user", "Add user."), ("audit-execve-ping", None), ("sshd-auth-failed", None)],
)
@pytest.mark.parametrize("class_uid", BOTH)
def test_event_code_is_the_source_event_id(slug: str, code: str | None, class_uid: int) -> None:
    source = CORPUS[slug]
    if slug == "audit-execve-ping":
        code = source["data"]["audit"].get("type")
    event = map_alert(source, class_uid=class_uid)
    assert event["metadata"].get("event_code") == code


# -- 6. labels -----------------------------------------------------------------------------------


@pytest.mark.parametrize("class_uid", BOTH)
def test_agent_labels_become_resource_labels(class_uid: int) -> None:
    source = alert(agent={"id": "001", "name": "web-01", "labels": {"env": "prod", "aws": {"instance-id": "i-1"}}})
    event = map_alert(source, class_uid=class_uid)
    assert event["resources"][0]["labels"] == ["env:prod", "aws.instance-id:i-1"]
    assert not any(key.startswith("agent.labels") for key in event["unmapped"])
    source["agent"]["labels"]["build"] = 7  # not text: converted, and kept in unmapped as well
    event = map_alert(source, class_uid=class_uid)
    assert "build:7" in event["resources"][0]["labels"] and event["unmapped"]["agent.labels.build"] == "7"


# -- 9. compliance and cis_csc -------------------------------------------------------------------


def test_sca_check_result_is_the_compliance_of_a_security_finding() -> None:
    event = map_alert(CORPUS["sca-check-failed"])
    sca = CORPUS["sca-check-failed"]["data"]["sca"]
    assert event["compliance"]["standards"][0] == sca["policy"]
    assert (event["compliance"]["control"], event["compliance"]["status_id"], event["compliance"]["status"]) == (
        sca["check"]["id"], 3, "Fail")
    assert "PCI DSS" in event["compliance"]["standards"]  # the rule's tags follow
    assert map_alert(CORPUS["sca-check-passed"])["compliance"]["status_id"] == 1
    assert map_alert(CORPUS["seed-ciscat"])["compliance"]["status"] == "Other"  # notchecked
    assert "compliance" not in map_alert(CORPUS["sca-check-failed"], class_uid=2004)


def test_cis_csc_security_finding_only() -> None:
    source = copy.deepcopy(CORPUS["sshd-auth-failed"])
    source["rule"]["cis_csc"] = ["4.1", "16.11"]
    event = map_alert(source)
    assert event["cis_csc"] == [{"control": "4.1"}, {"control": "16.11"}]
    assert "rule.cis_csc" not in event["unmapped"]
    event = map_alert(source, class_uid=2004)
    assert "cis_csc" not in event and event["unmapped"]["rule.cis_csc"] == '["4.1","16.11"]'


# -- 10. vulnerabilities -------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["vulnerability-detected-4-8", "vulnerability-detected-4-7",
                                  "vulnerability-solved-4-8"])
@pytest.mark.parametrize("class_uid", BOTH)
def test_finding_classes_carry_the_vulnerability_as_the_routed_class_does(slug: str, class_uid: int) -> None:
    event = map_alert(CORPUS[slug], class_uid=class_uid)
    routed = map_alert(CORPUS[slug], class_uid=2002)
    assert event["vulnerabilities"] == routed["vulnerabilities"]
    assert event["vulnerabilities"][0]["cve"]["uid"] == CORPUS[slug]["data"]["vulnerability"]["cve"]
    assert "data.vulnerability.cve" not in event["unmapped"]


# -- the defensible items ------------------------------------------------------------------------


@pytest.mark.parametrize("class_uid", BOTH)
def test_original_time_is_the_source_time(class_uid: int) -> None:
    for slug, source_time in [("sshd-auth-failed", CORPUS["sshd-auth-failed"]["predecoder"]["timestamp"]),
                              ("windows-logon-failure-4625",
                               CORPUS["windows-logon-failure-4625"]["data"]["win"]["system"]["systemTime"])]:
        event = map_alert(CORPUS[slug], class_uid=class_uid)
        assert event["metadata"]["original_time"] == source_time
        assert event["unmapped"]["timestamp"] == CORPUS[slug]["timestamp"]  # the alert's own, verbatim
    event = map_alert(CORPUS["sca-check-failed"], class_uid=class_uid)  # generated by Wazuh: no source time
    assert event["metadata"]["original_time"] == CORPUS["sca-check-failed"]["timestamp"]
    assert "timestamp" not in event["unmapped"]


def test_windows_account_management_actor_is_the_subject() -> None:
    source = alert(data={"win": {"system": {"eventID": "4720"},
                                 "eventdata": {"subjectUserName": "admin", "targetUserName": "newbie"}}})
    assert map_alert(source, class_uid=2004)["evidences"][0]["actor"] == {"user": {"name": "admin"}}
    source["data"]["win"]["system"]["eventID"] = "4624"  # a logon: the target account logged on
    assert map_alert(source, class_uid=2004)["evidences"][0]["actor"] == {"user": {"name": "newbie"}}


@pytest.mark.parametrize("class_uid", BOTH)
def test_manager_is_a_logger_not_a_data_source(class_uid: int) -> None:
    event = map_alert(CORPUS["sshd-auth-failed"], class_uid=class_uid)
    sources = event["data_sources"] if class_uid == 2001 else event["finding_info"]["data_sources"]
    assert not any(source.startswith("manager.name:") for source in sources)
    assert event["metadata"]["loggers"] == [{"name": CORPUS["sshd-auth-failed"]["manager"]["name"]}]


# -- 7. malware ----------------------------------------------------------------------------------


def test_virustotal_positive_is_malware() -> None:
    event = map_alert(CORPUS["virustotal-malicious"])
    assert event["malware"] == [{"uid": "3395856ce81f2b7382dee72602f798b642f14140",
                                 "path": "/media/user/software/eicar.com", "classification_ids": [0],
                                 "classifications": ["Unknown"], "provider": "VirusTotal"}]
    assert "malware" not in map_alert(CORPUS["virustotal-error-agent-000"])
    assert "malware" not in map_alert(CORPUS["virustotal-malicious"], class_uid=2004)  # needs security_control


def test_defender_detection_is_malware() -> None:
    class_uid = 2001
    source = alert(data={"win": {"system": {"eventID": "1116"}, "eventdata": {
        "threat Name": "Trojan:Win32/Wacatac.B!ml", "threat ID": "2147735503", "category Name": "Trojan",
        "path": "file:_C:\\Users\\bob\\Downloads\\setup.exe"}}})
    event = map_alert(source, class_uid=class_uid)
    assert event["malware"] == [{"name": "Trojan:Win32/Wacatac.B!ml", "uid": "2147735503",
                                 "path": "C:\\Users\\bob\\Downloads\\setup.exe", "classification_ids": [18],
                                 "classifications": ["Trojan"], "provider": "Microsoft Defender"}]
    source["data"]["win"]["eventdata"]["category Name"] = "Potentially Unwanted Software"
    assert map_alert(source, class_uid=class_uid)["malware"][0]["classification_ids"] == [99]
