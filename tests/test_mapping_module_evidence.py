"""Evidence from module fields (issue #18 item 8): CloudTrail, Office 365 and Sysmon alerts.

Field tests of each evidence attribute against the OCSF 1.1.0 attribute it fills, on the
corpus alerts and on hand-made variants; that nothing is lost (every evidence value's alert
field is still in ``unmapped``); and what Security Finding, which has no ``evidences``, gets.
Standard library only (runs under Python 3.9 too).
"""

from __future__ import annotations

import copy

import pytest
from ocsf_events import SETTINGS
from test_corpus import load_corpus
from test_mapping import alert

from wazuh_ocsf.mapping import map_alert
from wazuh_ocsf.mapping.module_evidence import module_evidence

CORPUS = load_corpus()
SYSMON = {"providerName": "Microsoft-Windows-Sysmon"}
FILE = {"type_id": 1, "type": "Regular File"}


def evidence(source: dict) -> dict:
    (found,) = map_alert(source, class_uid=2004, **SETTINGS)["evidences"]
    return found


def sysmon(event_id: str, **eventdata: str) -> dict:
    return alert(data={"win": {"system": {**SYSMON, "eventID": event_id}, "eventdata": eventdata}})


# -- AWS CloudTrail ------------------------------------------------------------------------------


def test_cloudtrail_iam_user_actor_source_and_api() -> None:
    found = evidence(CORPUS["aws-cloudtrail-createuser"])
    assert found["actor"] == {
        "user": {
            "name": "alice.admin",  # userName
            "uid": "arn:aws:iam::111122223333:user/alice.admin",  # OCSF: "the AWS user ARN"
            "uid_alt": "AIDAEXAMPLEPRINCIPAL01",  # OCSF: "AWS user Principal ID"
            "type": "IAMUser",
            "credential_uid": "ASIAEXAMPLEACCESSKEY",  # OCSF: "for example, AWS Access Key ID"
            "account": {"uid": "111122223333", "type_id": 10, "type": "AWS Account"},
        },
        "session": {"created_time": 1713801520000, "is_mfa": True},  # 2024-04-22T15:58:40Z, "true"
    }
    assert found["src_endpoint"] == {"ip": "198.51.100.44"}
    assert found["api"] == {
        "operation": "CreateUser",
        "service": {"name": "iam.amazonaws.com"},
        "request": {"uid": "5d6ba0a4-2b0a-4c6c-9d4e-5c2b4f0e8f11"},
    }


def test_cloudtrail_assumed_role_called_by_a_service_and_refused() -> None:
    found = evidence(CORPUS["aws-cloudtrail-assumed-role-denied"])
    assert found["actor"] == {
        "user": {
            "uid": "arn:aws:sts::111122223333:assumed-role/ci-deploy/ci-deploy-session",
            "uid_alt": "AROAEXAMPLEROLEID01:ci-deploy-session",
            "type": "AssumedRole",
            "credential_uid": "ASIAEXAMPLESESSION02",
            "account": {"uid": "111122223333", "type_id": 10, "type": "AWS Account"},
        },
        # the role the session was issued by: OCSF session.issuer, "the identifier of the session issuer"
        "session": {"created_time": 1713859929000, "is_mfa": False,
                    "issuer": "arn:aws:iam::111122223333:role/ci-deploy"},
        "invoked_by": "cloudformation.amazonaws.com",
    }
    # an AWS service made the call: its name, not an IP (OCSF svc_name, "service-to-service")
    assert found["src_endpoint"] == {"svc_name": "cloudformation.amazonaws.com"}
    assert found["api"]["response"] == {"error": "AccessDenied", "error_message": "Access Denied"}
    assert found["api"]["operation"] == "DeleteBucket"


def test_cloudtrail_vpc_endpoint_web_identity_and_odd_values() -> None:
    aws = {"eventName": "GetObject", "eventSource": "s3.amazonaws.com", "apiVersion": "2006-03-01",
           "sourceIPAddress": "10.0.3.7", "vpcEndpointId": "vpce-0example",
           "userIdentity": {"type": "WebIdentityUser", "userName": "ci", "identityProvider": "accounts.google.com",
                            "sessionContext": {"attributes": {"creationDate": "22/04/2024", "mfaAuthenticated": "no"}}}}
    found = module_evidence({"aws": aws})
    assert found["src_endpoint"] == {"ip": "10.0.3.7", "uid": "vpce-0example"}
    assert found["api"]["version"] == "2006-03-01"
    assert found["actor"] == {"user": {"name": "ci", "type": "WebIdentityUser"}, "idp": {"name": "accounts.google.com"}}
    aws["sourceIPAddress"] = "not an address"  # neither an IP nor an AWS service: left in unmapped
    del aws["vpcEndpointId"]
    aws["userIdentity"] = {"type": "AWSService"}  # a type alone is no OCSF user (name, uid or account)
    assert module_evidence({"aws": aws}) == {"api": {"operation": "GetObject", "service": {"name": "s3.amazonaws.com"},
                                                     "version": "2006-03-01"}}


def test_an_identity_provider_alone_makes_no_actor() -> None:
    """OCSF 1.1.0's actor needs one of process, user, invoked_by or session: an idp alone is invalid."""
    aws = {"eventName": "AssumeRoleWithWebIdentity", "eventSource": "sts.amazonaws.com",
           "userIdentity": {"type": "WebIdentityUser", "principalId": "accounts.google.com:app:1234",
                            "identityProvider": "accounts.google.com"}}
    assert "actor" not in module_evidence({"aws": aws})
    aws["userIdentity"]["userName"] = "ci"
    assert module_evidence({"aws": aws})["actor"]["idp"] == {"name": "accounts.google.com"}


def test_other_aws_services_have_no_cloudtrail_evidence() -> None:
    guardduty = {"source": "guardduty", "title": "x", "service": {"action": {"actionType": "PORT_PROBE"}}}
    assert module_evidence({"aws": guardduty}) is None
    assert module_evidence({"aws": "text"}) is None


# -- Office 365 ----------------------------------------------------------------------------------


def test_office365_user_client_ip_and_operation() -> None:
    found = evidence(CORPUS["office365-add-user"])
    assert found == {
        "actor": {"user": {"name": "admin@example.com", "uid_alt": "10032002120F5B41@example.com", "type": "Regular"}},
        "src_endpoint": {"ip": "102.244.157.118"},
        "api": {"operation": "Add user.", "service": {"name": "AzureActiveDirectory"}},
    }


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"ClientIP": "203.0.113.9:51234"}, {"ip": "203.0.113.9", "port": 51234}),
        ({"ClientIP": "[2001:db8::7]:443"}, {"ip": "2001:db8::7", "port": 443}),
        ({"ClientIP": "2001:db8::7"}, {"ip": "2001:db8::7"}),
        ({"ClientIP": "203.0.113.9:0"}, {"ip": "203.0.113.9"}),
        ({"ClientIP": "sanitized", "ActorIpAddress": "198.51.100.3"}, {"ip": "198.51.100.3"}),
        ({"ClientIP": "sanitized"}, None),
        ({"ClientIP": "1.2.3:80"}, None),
    ],
)
def test_office365_client_ip_forms(fields: dict, expected: dict | None) -> None:
    assert module_evidence({"office365": {"UserId": "a@example.com", **fields}}).get("src_endpoint") == expected


@pytest.mark.parametrize(("user_type", "expected"), [("2", "Admin"), (4, "System"), ("6", "ServicePrincipal"),
                                                     ("42", None), (None, None), (True, None)])
def test_office365_user_type_is_microsofts_name(user_type: object, expected: str | None) -> None:
    found = module_evidence({"office365": {"UserId": "a@example.com", "UserType": user_type}})
    assert found["actor"]["user"].get("type") == expected


# -- Sysmon --------------------------------------------------------------------------------------


def test_sysmon_process_creation_with_parent_and_hashes() -> None:
    process = evidence(CORPUS["sysmon-process-create"])["process"]
    assert process == {
        "pid": 648,
        "uid": "{4dc16835-c18b-6089-a203-000000002e00}",  # processGuid: "assigned by the producer (tool)"
        "name": "wscript.exe",
        # the eventchannel decoder's JSON escapes undone: the path as Windows wrote it
        "file": {"name": "wscript.exe", "path": "C:\\Windows\\System32\\wscript.exe", **FILE, "hashes": [
            {"algorithm_id": 2, "algorithm": "SHA-1", "value": "545EC11DEE642DE633EB2C6F6FFC90CCE4DECF8D"},
            {"algorithm_id": 1, "algorithm": "MD5", "value": "0639B0A6F69B3265C1E42227D650B7D1"},
            {"algorithm_id": 3, "algorithm": "SHA-256",
             "value": "CE9F70E104C07D92FC05FBD6000839FD6A87FF010E706396F87DD679244ED97B"},
            {"algorithm_id": 99, "algorithm": "IMPHASH", "value": "0F71D5F6F4CBB935CE1B09754102419C"},
        ]},
        "cmd_line": '"C:\\Windows\\System32\\notepad.exe"',
        "user": {"name": "AtomicRedTeamTest", "domain": "DESKTOP-2QKFOBA"},
        "integrity_id": 4,
        "integrity": "High",
        "created_time": 1619640715352,  # utcTime 2021-04-28 20:11:55.352
        "parent_process": {
            "pid": 6876,
            "uid": "{4dc16835-c189-6089-a003-000000002e00}",
            "name": "cscript.exe",
            "file": {"name": "cscript.exe", "path": "C:\\Windows\\System32\\cscript.exe", **FILE},
            "cmd_line": '"C:\\Windows\\system32\\cscript.exe" .\\drop-payloads.vbe',
        },
    }


def test_sysmon_image_loaded_hashes_belong_to_the_loaded_file() -> None:
    found = evidence(CORPUS["sysmon-image-loaded"])
    assert found["file"]["path"] == "C:\\Windows\\System32\\vaultcli.dll"
    assert [h["algorithm"] for h in found["file"]["hashes"]] == ["SHA-1", "MD5", "SHA-256", "IMPHASH"]
    assert found["process"] == {
        "pid": 5700, "uid": "{4dc16835-24d1-60f7-4001-000000005000}", "name": "infosMin48.exe",
        "file": {"name": "infosMin48.exe", **FILE,
                 "path": "C:\\Users\\AtomicRed\\AppData\\Local\\Temp\\infosMin48.exe"},
    }


def test_sysmon_file_created_is_the_file_and_the_creator_the_process() -> None:
    found = evidence(CORPUS["sysmon-file-created"])
    assert found["file"] == {"name": "samcat.exe", "path": "C:\\Users\\AtomicRed\\samcat.exe", **FILE}
    assert found["process"]["name"] == "powershell.exe" and found["process"]["pid"] == 7644


def test_sysmon_process_access_source_process_network_and_file_delete() -> None:
    access = evidence(sysmon("10", sourceProcessGUID="{a}", sourceProcessId="6004", sourceImage="C:\\\\x\\\\smrs.exe",
                             sourceUser="CORP\\\\mallory", targetProcessId="596", targetImage="C:\\\\lsass.exe"))
    assert access == {"process": {"pid": 6004, "uid": "{a}", "name": "smrs.exe",
                                  "file": {"name": "smrs.exe", "path": "C:\\x\\smrs.exe", **FILE},
                                  "user": {"name": "mallory", "domain": "CORP"}}}
    network = evidence(sysmon("3", processId="1852", image="C:\\\\p.exe", sourceIp="192.168.0.121", sourcePort="49815",
                              destinationIp="192.168.0.57", destinationPort="135"))
    assert network["src_endpoint"] == {"ip": "192.168.0.121", "port": 49815}
    assert network["dst_endpoint"] == {"ip": "192.168.0.57", "port": 135}
    deleted = evidence(sysmon("23", processId="77", targetFilename="C:\\\\t\\\\a.exe", integrityLevel="AppContainer",
                              hashes="SHA256=" + "AB" * 32 + ",IMPHASH=" + "0" * 32 + ",SHA384=ff,MD5=xyz"))
    assert deleted["file"]["hashes"] == [{"algorithm_id": 3, "algorithm": "SHA-256", "value": "AB" * 32}]
    assert deleted["process"] == {"pid": 77, "integrity_id": 99, "integrity": "AppContainer"}


def test_sysmon_without_a_process_id_keeps_the_generic_evidence() -> None:
    found = evidence(sysmon("1", processId="0", image="C:\\\\x.exe", subjectUserName="bob"))
    assert "process" not in found  # pid 0 is no process, and no processGuid: OCSF needs pid or uid
    assert found["actor"] == {"user": {"name": "bob"}}
    not_sysmon = alert(data={"win": {"system": {"providerName": "Microsoft-Windows-Security-Auditing"},
                                     "eventdata": {"processId": "0x1a4", "image": "C:\\cmd.exe"}}})
    assert module_evidence(not_sysmon["data"]) is None
    assert evidence(not_sysmon)["process"]["pid"] == 0x1A4  # the generic Windows process, as before


# -- nothing lost, and Security Finding --------------------------------------------------------

# evidence path → alert path of the module field it copies (the values the corpus alerts hold).
MOVED = {
    "aws-cloudtrail-assumed-role-denied": {
        "actor.user.uid": "data.aws.userIdentity.arn",
        "actor.user.uid_alt": "data.aws.userIdentity.principalId",
        "actor.user.type": "data.aws.userIdentity.type",
        "actor.user.credential_uid": "data.aws.userIdentity.accessKeyId",
        "actor.user.account.uid": "data.aws.userIdentity.accountId",
        "actor.session.issuer": "data.aws.userIdentity.sessionContext.sessionIssuer.arn",
        "actor.invoked_by": "data.aws.userIdentity.invokedBy",
        "src_endpoint.svc_name": "data.aws.sourceIPAddress",
        "api.operation": "data.aws.eventName",
        "api.service.name": "data.aws.eventSource",
        "api.request.uid": "data.aws.requestID",
        "api.response.error": "data.aws.errorCode",
        "api.response.error_message": "data.aws.errorMessage",
    },
    "office365-add-user": {
        "actor.user.name": "data.office365.UserId",
        "actor.user.uid_alt": "data.office365.UserKey",
        "src_endpoint.ip": "data.office365.ClientIP",
        "api.operation": "data.office365.Operation",
        "api.service.name": "data.office365.Workload",
    },
    "sysmon-process-create": {
        "process.uid": "data.win.eventdata.processGuid",
        "process.parent_process.uid": "data.win.eventdata.parentProcessGuid",
        "process.integrity": "data.win.eventdata.integrityLevel",
    },
}


def _at(value: object, path: str) -> object:
    for key in path.split("."):
        value = value[key]
    return value


@pytest.mark.parametrize("slug", sorted(MOVED))
def test_evidence_values_stay_in_unmapped(slug: str) -> None:
    """Evidences copy (README, mapping.evidences): each module field they fill is still in ``unmapped``."""
    event = map_alert(CORPUS[slug], class_uid=2004, **SETTINGS)
    for attribute, alert_path in MOVED[slug].items():
        assert _at(event["evidences"][0], attribute) == event["unmapped"][alert_path], attribute
    # the numbers and the unescaped Windows text too, in their alert form
    if slug == "sysmon-process-create":
        eventdata = CORPUS[slug]["data"]["win"]["eventdata"]
        for key in ("processId", "image", "commandLine", "user", "hashes", "parentProcessId", "parentImage",
                    "parentCommandLine", "utcTime"):
            assert event["unmapped"][f"data.win.eventdata.{key}"] == eventdata[key], key


def test_security_finding_gets_cloudtrails_api_and_sysmons_process() -> None:
    """Security Finding 1.1.0 has no evidences; its ``api`` (cloud profile) and ``process`` are OCSF's places."""
    cloudtrail = map_alert(CORPUS["aws-cloudtrail-assumed-role-denied"], **SETTINGS)
    assert cloudtrail["api"] == evidence(CORPUS["aws-cloudtrail-assumed-role-denied"])["api"]
    assert "cloud" in cloudtrail["metadata"]["profiles"]
    assert map_alert(CORPUS["sysmon-process-create"], **SETTINGS)["process"] == evidence(
        CORPUS["sysmon-process-create"])["process"]
    office = map_alert(CORPUS["office365-add-user"], **SETTINGS)
    assert "api" not in office and "cloud" not in office  # no cloud profile: 2001's api would not validate
    assert "evidences" not in office and "actor" not in office  # neither is a 1.1.0 Security Finding attribute


def test_alerts_of_other_modules_pay_three_lookups_and_get_nothing() -> None:
    for data in ({"srcip": "1.2.3.4"}, {"audit": {"pid": "1"}}, {"win": {"system": {"eventID": "4624"}}}, {}):
        assert module_evidence(copy.deepcopy(data)) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2024-04-22T15:58:40Z", 1713801520000), ("2021-04-28 20:11:55.352", 1619640715352),
     ("2024-13-22T15:58:40Z", None), ("2024-04-22T15:58:4xZ", None), ("\u0662024-04-22T15:58:40Z", None),
     ("2024-04-22T15:58:40+00:00", None), ("1969-12-31T23:59:59Z", None), ("", None)],
)
def test_session_and_process_times_without_re(value: str, expected: int | None) -> None:
    source = {"aws": {"eventName": "x", "userIdentity": {"userName": "u", "sessionContext": {
        "attributes": {"creationDate": value}}}}} if "T" in value or not value else None
    if source is not None:
        assert module_evidence(source)["actor"].get("session", {}).get("created_time") == expected
    else:
        found = module_evidence({"win": {"system": {**SYSMON, "eventID": "1"},
                                         "eventdata": {"processId": "5", "utcTime": value}}})
        assert found["process"].get("created_time") == expected
