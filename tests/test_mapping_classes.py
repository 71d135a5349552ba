"""The routed classes, attribute by attribute: what an analyst queries lands where OCSF puts it.

Vulnerability Finding (2002), Compliance Finding (2003), File System Activity (1001) and
Authentication (3002), on the corpus alerts and on small variants of them; and the routing
table that chooses them. Standard library only (runs under Python 3.9 too).
"""

from __future__ import annotations

import copy

import pytest
from test_corpus import load_corpus

from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping import finding_uid, map_alert
from wazuh_ocsf.mapping.routing import ROUTES, fitting_class, route

CORPUS = load_corpus()


def mapped(slug: str, class_uid: int, **changes) -> dict:
    alert = copy.deepcopy(CORPUS[slug])
    alert.update(changes)
    return map_alert(alert, class_uid=class_uid)


# -- routing ---------------------------------------------------------------------------------------

EXPECTED_ROUTES = {
    "vulnerability-detected-4-8": 2002,
    "vulnerability-detected-4-7": 2002,
    "vulnerability-solved-4-8": 2002,
    "sca-check-failed": 2003,
    "sca-check-passed": 2003,
    "seed-ciscat": 2003,
    "fim-added": 1001,
    "fim-modified": 1001,
    "fim-deleted-windows-whodata": 1001,
    "fim-registry-value-modified": 1001,
    "sshd-auth-failed": 3002,
    "sshd-auth-success-ipv6-agent": 3002,
    "sshd-brute-force-previous-output": 3002,
    "custom-rule-id-number": 3002,
    "windows-logon-failure-4625": 3002,
    "windows-logon-success-4624": 3002,
    "windows-logoff-4634": 3002,
}


def test_routing_table_over_the_corpus() -> None:
    routed = {slug: fitting_class(alert) for slug, alert in CORPUS.items()}
    assert {slug: uid for slug, uid in routed.items() if uid is not None} == EXPECTED_ROUTES
    # the rest (audit, rootcheck, VirusTotal, cloud, web, …) goes to the finding class
    assert {route(alert, 2004, tuple(uid for uid, _ in ROUTES)) for slug, alert in CORPUS.items()
            if slug not in EXPECTED_ROUTES} == {2004}


def test_a_route_without_destination_goes_to_the_finding_class() -> None:
    alert = CORPUS["vulnerability-detected-4-8"]
    assert route(alert, 2004, (2002, 2003)) == 2002
    assert route(alert, 2004, (2003, 1001, 3002)) == 2004
    assert route(alert, 2001, ()) == 2001


def test_routed_mapper_refuses_an_alert_of_another_kind() -> None:
    with pytest.raises(AlertError, match="not a vulnerability alert"):
        map_alert(CORPUS["sshd-auth-failed"], class_uid=2002)
    with pytest.raises(AlertError, match="not a compliance check alert"):
        map_alert(CORPUS["fim-added"], class_uid=2003)
    with pytest.raises(AlertError, match="not a FIM alert"):
        map_alert(CORPUS["sca-check-failed"], class_uid=1001)
    with pytest.raises(AlertError, match="not a login alert"):
        map_alert(CORPUS["audit-execve-ping"], class_uid=3002)


def test_fim_without_agent_and_login_without_user_are_not_routed() -> None:
    fim = {key: value for key, value in CORPUS["fim-added"].items() if key != "agent"}
    assert fitting_class(fim) is None
    login = copy.deepcopy(CORPUS["sshd-auth-failed"])
    del login["data"]["dstuser"]
    assert fitting_class(login) is None
    sca_summary = copy.deepcopy(CORPUS["sca-check-failed"])
    sca_summary["data"]["sca"]["type"] = "summary"
    assert fitting_class(sca_summary) is None


# -- Vulnerability Finding -------------------------------------------------------------------------


def test_cve_and_base_score_land_in_vulnerabilities_cve() -> None:
    event = mapped("vulnerability-detected-4-8", 2002)
    cve = event["vulnerabilities"][0]["cve"]
    assert cve["uid"] == "CVE-2024-6387"
    assert [(s["version"], s["base_score"], s["severity"]) for s in cve["cvss"]] == [("3.1", 8.1, "High")]
    package = event["vulnerabilities"][0]["affected_packages"][0]
    assert (package["name"], package["version"], package["fixed_in_version"]) == (
        "openssh-server", "1:8.9p1-3ubuntu0.6", "1:8.9p1-3ubuntu0.10")
    assert (event["activity_name"], event["status"]) == ("Create", "New")
    assert event["finding_info"]["uid"] == finding_uid(CORPUS["vulnerability-detected-4-8"])
    assert event["finding_info"]["analytic"]["uid"] == "23505"


def test_vulnerability_detector_4_7_scores_are_numbers() -> None:
    cve = mapped("vulnerability-detected-4-7", 2002)["vulnerabilities"][0]["cve"]
    assert [(s["version"], s["base_score"]) for s in cve["cvss"]] == [("2.0", 10.0), ("3", 9.8)]
    assert {"name": "attack_vector", "value": "network"} in cve["cvss"][1]["metrics"]
    assert cve["cwe"] == {"uid": "CWE-787"}
    assert cve["created_time"] == 1697587200000  # 2023-10-18


def test_solved_vulnerability_closes_the_finding() -> None:
    event = mapped("vulnerability-solved-4-8", 2002)
    assert (event["activity_id"], event["activity_name"], event["status_id"], event["status"]) == (
        3, "Close", 4, "Resolved")
    assert event["type_uid"] == 200203


@pytest.mark.parametrize("score", ["NaN", "11", "-1", "1e3", "8,1", 12.5])
def test_scores_out_of_range_are_not_mapped(score) -> None:
    alert = copy.deepcopy(CORPUS["vulnerability-detected-4-8"])
    alert["data"]["vulnerability"]["score"]["base"] = score
    alert["data"]["vulnerability"].pop("cvss")
    event = map_alert(alert, class_uid=2002)
    assert "cvss" not in event["vulnerabilities"][0]["cve"]
    assert event["unmapped"]["data.vulnerability.score.base"] == (score if isinstance(score, str) else "12.5")


# -- Compliance Finding ----------------------------------------------------------------------------


def test_sca_result_is_the_compliance_status() -> None:
    failed = mapped("sca-check-failed", 2003)["compliance"]
    assert (failed["status_id"], failed["status"], failed["control"]) == (3, "Fail", "10000")
    assert failed["standards"] == ["SCA use case: Keyword check"]
    passed = mapped("sca-check-passed", 2003)
    assert (passed["compliance"]["status_id"], passed["compliance"]["status"]) == (1, "Pass")
    assert "pci_dss_v3.2.1 7.1,7.1.1,7.1.2,7.1.3" in passed["compliance"]["requirements"]
    assert passed["remediation"]["desc"].startswith("Run the following commands")
    assert passed["finding_info"]["title"] == "Ensure permissions on /etc/ssh/sshd_config are configured."


def test_not_applicable_check_keeps_its_reason() -> None:
    alert = copy.deepcopy(CORPUS["sca-check-failed"])
    alert["data"]["sca"]["check"].update(result="not applicable", reason="File /usr/share/testfile.txt not found")
    compliance = map_alert(alert, class_uid=2003)["compliance"]
    assert (compliance["status_id"], compliance["status"], compliance["status_code"]) == (99, "Other", "not applicable")
    assert compliance["status_detail"] == "File /usr/share/testfile.txt not found"


def test_cis_cat_result() -> None:
    event = mapped("seed-ciscat", 2003)
    assert event["compliance"]["standards"] == ["CIS Ubuntu Linux 16.04 LTS Benchmark"]
    assert (event["compliance"]["status"], event["compliance"]["status_code"]) == ("Other", "notchecked")
    assert event["finding_info"]["title"] == "CIS-CAT 5"


# -- File System Activity --------------------------------------------------------------------------


def test_fim_deleted_is_a_delete_with_the_hashes_before() -> None:
    event = mapped("fim-deleted-windows-whodata", 1001)
    assert (event["activity_id"], event["type_uid"]) == (4, 100104)
    file = event["file"]
    assert file["path"] == "c:\\test\\adasdasd.txt"
    assert {h["algorithm"]: h["value"] for h in file["hashes"]}["MD5"] == "786e0bf0ffc3c466b19d4e68d7c6f155"
    # who-data names who deleted it
    assert event["actor"]["user"] == {"name": "jdoe", "uid": "S-1-5-21-3527455827-79240758-596275861-1001"}
    assert event["actor"]["process"]["pid"] == 2484
    assert event["actor"]["process"]["name"] == "explorer.exe"
    # a deletion that reports both states is the state before
    alert = copy.deepcopy(CORPUS["fim-modified"])
    alert["syscheck"]["event"] = "deleted"
    deleted = map_alert(alert, class_uid=1001)
    assert deleted["file"]["size"] == 0
    assert {h["algorithm"]: h["value"] for h in deleted["file"]["hashes"]}["MD5"] == "d41d8cd98f00b204e9800998ecf8427e"
    assert "file_result" not in deleted


def test_fim_modified_has_the_file_before_and_after() -> None:
    event = mapped("fim-modified", 1001)
    assert (event["activity_id"], event["activity_name"]) == (3, "Update")
    assert (event["file"]["size"], event["file_result"]["size"]) == (0, 26)
    assert event["file_result"]["owner"] == {"name": "root", "uid": "0"}
    assert event["file_diff"] == "0a1\n> 12313213215681568 keyword\n"
    assert event["actor"] == {"invoked_by": "wazuh-syscheckd (realtime)"}  # no who-data: nobody is named
    assert event["metadata"]["uid"] == finding_uid(CORPUS["fim-modified"])


def test_fim_registry_value() -> None:
    file = mapped("fim-registry-value-modified", 1001)["file_result"]
    assert (file["type_id"], file["type"], file["name"]) == (99, "Registry Value", "Updater")
    assert file["path"] == "HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\Updater"


# -- Authentication --------------------------------------------------------------------------------


def test_4625_is_a_failed_logon_with_the_source_ip() -> None:
    event = mapped("windows-logon-failure-4625", 3002)
    assert (event["activity_name"], event["status_id"], event["status"]) == ("Logon", 2, "Failure")
    assert event["src_endpoint"] == {"ip": "198.51.100.9", "name": "KALI"}  # port "0" is no port
    assert event["user"] == {"name": "Administrador", "domain": "CORP"}  # S-1-0-0 is the NULL SID
    assert (event["logon_type_id"], event["logon_type"]) == (3, "Network")
    assert (event["auth_protocol_id"], event["auth_protocol"], event["status_code"]) == (1, "NTLM", "0xc000006d")
    assert event["dst_endpoint"] == {"uid": "006", "name": "WIN-SRV-2019.corp.example.com", "ip": "192.168.56.30"}


def test_4624_success_and_4634_logoff_share_the_session() -> None:
    logon = mapped("windows-logon-success-4624", 3002)
    logoff = mapped("windows-logoff-4634", 3002)
    assert (logon["activity_name"], logon["status"], logon["logon_type"]) == ("Logon", "Success", "Remote Interactive")
    assert logon["actor"]["user"]["name"] == "WIN-SRV-2019$"
    assert (logoff["activity_id"], logoff["activity_name"], logoff["type_uid"]) == (2, "Logoff", 300202)
    assert logon["session"] == logoff["session"] == {"uid": "0x2a4f1c3"}


def test_sshd_logins() -> None:
    failed = mapped("sshd-auth-failed", 3002)
    assert (failed["status"], failed["user"], failed["src_endpoint"]) == (
        "Failure", {"name": "root"}, {"ip": "203.0.113.77", "port": 52318})
    assert failed["service"] == {"name": "sshd"}
    success = mapped("sshd-auth-success-ipv6-agent", 3002)
    assert (success["status"], success["user"]["name"]) == ("Success", "ec2-user")
    assert success["dst_endpoint"]["ip"] == "2001:db8:10:0:215:5dff:fe00:7"


def test_routing_loads_only_cheap_modules_and_a_fixed_class_loads_no_router() -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, json; import wazuh_ocsf.mapping as m; alerts = json.loads(sys.stdin.read());"
        "fixed = m.map_alert(alerts[0], class_uid=2004); before = 'wazuh_ocsf.mapping.routing' in sys.modules;"
        "from wazuh_ocsf.mapping.routing import route;"
        "[m.map_alert(a, class_uid=route(a, 2004, (2002, 2003, 1001, 3002))) for a in alerts];"
        "print(json.dumps([before, sorted(sys.modules)]))"
    )
    alerts = [CORPUS[slug] for slug in ("sshd-auth-failed", "vulnerability-detected-4-7", "sca-check-passed",
                                        "fim-registry-value-modified", "windows-logon-success-4624")]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-S", "-c", code], input=json.dumps(alerts), capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(root)), check=True)
    before, loaded = json.loads(done.stdout)
    assert before is False  # the router is imported only when routing
    assert {"wazuh_ocsf.mapping.vulnerability_finding", "wazuh_ocsf.mapping.authentication"} <= set(loaded)
    forbidden = {"datetime", "hashlib", "uuid", "base64", "typing", "dataclasses", "logging", "argparse",
                 "socket", "ipaddress", "pyarrow", "decimal"}
    assert set(loaded) & forbidden == set()
