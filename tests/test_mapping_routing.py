"""``auto`` routing end to end: the real hook, ``<options>``, the follow/backfill mapper, the settings.

A routed class gets an alert only when it fits and the class has a destination; every other
alert goes to the finding class (Detection Finding by default, Security Finding on request).
"""

from __future__ import annotations

import os

import pytest
from hook_support import Home, alert_bytes, argv_48
from test_corpus import load_corpus

from wazuh_ocsf.config import load_settings
from wazuh_ocsf.errors import ConfigError
from wazuh_ocsf.mapping import finding_uid
from wazuh_ocsf.readers.pipeline import MapOptions, map_block
from wazuh_ocsf.spool.line import decode_line

CORPUS = load_corpus()
VULNERABILITY = CORPUS["vulnerability-detected-4-8"]
LOGIN = CORPUS["sshd-auth-failed"]
ROOTCHECK = CORPUS["rootcheck-hidden-file-dev"]
ALL_ROUTES = {
    "vulnerability_finding_source": "wazuh-vulnerability",
    "compliance_finding_source": "wazuh-compliance",
    "file_activity_source": "wazuh-file-activity",
    "authentication_source": "wazuh-authentication",
}


@pytest.fixture
def home(tmp_path) -> Home:
    return Home(tmp_path / "ossec")


def _spool(home: Home, alert: dict, options=None) -> dict:
    argv = argv_48(home.alert_file(alert_bytes(alert)), options=home.options_file(options) if options else "")
    result = home.run(argv)
    assert (result.returncode, result.stderr) == (0, ""), home.log_text()
    return home.spooled()[-1]


def _settings(tmp_path, **values):
    lines = [f"WAZUH_OCSF_{key.upper()}={value}" for key, value in values.items()]
    path = tmp_path / "wazuh-ocsf.conf"
    path.write_text("\n".join(lines) + "\n")
    return load_settings(path=str(path), environ={"WAZUH_OCSF_WAZUH_HOME": str(tmp_path)})


def test_hook_routes_each_alert_to_its_class_when_it_has_a_destination(home):
    home.write_config(spool_dir=home.spool, node_name="node-1", ocsf_class="auto",
                      detection_finding_source="wazuh-detections", vulnerability_finding_source="wazuh-vulns")
    vulnerability = _spool(home, VULNERABILITY)
    assert vulnerability["class_uid"] == 2002
    assert vulnerability["finding_info"]["uid"] == finding_uid(VULNERABILITY)
    assert vulnerability["vulnerabilities"][0]["cve"]["uid"] == "CVE-2024-6387"
    # Authentication has no destination: its alerts go to the finding class, Detection Finding
    login = _spool(home, LOGIN)
    assert login["class_uid"] == 2004 and login["finding_info"]["uid"] == finding_uid(LOGIN)
    assert _spool(home, ROOTCHECK)["class_uid"] == 2004


def test_hook_auto_with_security_finding_as_the_finding_class(home):
    home.write_config(spool_dir=home.spool, node_name="node-1", ocsf_class="auto", finding_class="security_finding",
                      source_location="wazuh", **ALL_ROUTES)
    assert [_spool(home, alert)["class_uid"] for alert in (VULNERABILITY, LOGIN, ROOTCHECK)] == [2002, 3002, 2001]


def test_options_auto_routes_one_integration_block(home):
    home.write_config(spool_dir=home.spool, node_name="node-1", source_location="wazuh",
                      detection_finding_source="wazuh-detections", authentication_source="wazuh-auth")
    assert _spool(home, LOGIN)["class_uid"] == 2001  # the global class: security_finding, no routing
    assert _spool(home, LOGIN, {"ocsf_class": "auto"})["class_uid"] == 3002
    assert _spool(home, ROOTCHECK, {"ocsf_class": "auto"})["class_uid"] == 2004


def test_options_auto_needs_a_destination_for_the_finding_class(home):
    home.write_config(spool_dir=home.spool, node_name="node-1", source_location="wazuh")
    argv = argv_48(home.alert_file(alert_bytes(LOGIN)), options=home.options_file({"ocsf_class": "auto"}))
    result = home.run(argv)
    assert result.returncode == 11  # ERR_CONFIG: the alert is kept as a dead letter
    assert "detection_finding has no destination" in home.log_text()
    assert len(home.dead_letters()) == 1


def test_settings_auto(tmp_path) -> None:
    settings = _settings(tmp_path, ocsf_class="auto", authentication_source="wazuh-auth",
                         file_activity_location="s3://lake/ext/wazuh-fim/")
    assert (settings.routing, settings.ocsf_class, settings.active_routes()) == (True, 2004, (1001, 3002))
    assert settings.destination_prefix(1001) == "ext/wazuh-fim/"
    assert settings.masked()["WAZUH_OCSF_OCSF_CLASS"] == "auto"
    fixed = _settings(tmp_path, ocsf_class="detection_finding", authentication_source="wazuh-auth")
    assert (fixed.routing, fixed.ocsf_class) == (False, 2004)
    with pytest.raises(ConfigError, match=r"WAZUH_OCSF_OCSF_CLASS.*expected auto, security_finding"):
        _settings(tmp_path, ocsf_class="authentication")
    with pytest.raises(ConfigError, match="WAZUH_OCSF_FINDING_CLASS"):
        _settings(tmp_path, ocsf_class="auto", finding_class="auto")


def test_follow_and_backfill_route_like_the_hook(tmp_path) -> None:
    settings = _settings(tmp_path, ocsf_class="auto", **ALL_ROUTES)
    options = MapOptions.from_settings(settings)
    assert options.routes == (2002, 2003, 1001, 3002)
    alerts = [VULNERABILITY, CORPUS["sca-check-failed"], CORPUS["fim-added"], LOGIN, ROOTCHECK]
    blob = b"".join(alert_bytes(alert) for alert in alerts)
    result = map_block(blob, options)
    events = [decode_line(line) for line in result.lines]
    assert [event["class_uid"] for event in events] == [2002, 2003, 1001, 3002, 2004]
    assert result.uids == [finding_uid(alert) for alert in alerts]  # activity classes: metadata.uid
    import pickle

    assert pickle.loads(pickle.dumps(options)).routes == options.routes  # for the worker processes


def test_flusher_writes_one_object_per_class_and_day_and_duckdb_reads_the_cves(tmp_path) -> None:
    pytest.importorskip("pyarrow", reason="the flusher needs pyarrow")
    duckdb = pytest.importorskip("duckdb", reason="DuckDB reads the lake")
    import pyarrow.parquet as pq
    from flush_support import spool_events

    from wazuh_ocsf.flush.arrow_schema import schema_for
    from wazuh_ocsf.flush.flusher import flush
    from wazuh_ocsf.mapping import map_alert
    from wazuh_ocsf.mapping.routing import route
    from wazuh_ocsf.sinks.local import LocalSink

    settings = _settings(tmp_path, ocsf_class="auto", detection_finding_source="wazuh-detections",
                         spool_dir=tmp_path / "spool", node_name="node-1", region="eu-west-1",
                         account_id="123456789012", segment_max_age="0", **ALL_ROUTES)
    events = [map_alert(alert, class_uid=route(alert, 2004, settings.active_routes())) for alert in CORPUS.values()]
    spool_events(settings, events)
    out = tmp_path / "lake"
    result = flush(settings, [LocalSink(settings, out)])
    assert result.ok and result.events == len(events), result.failures
    expected = {(event["class_uid"], event["time"] // 86_400_000) for event in events}
    objects = sorted(out.rglob("*.parquet"))
    assert len(objects) == len(expected)  # one object per class and UTC day
    sources = {2002: "wazuh-vulnerability", 2003: "wazuh-compliance", 1001: "wazuh-file-activity",
               3002: "wazuh-authentication", 2004: "wazuh-detections"}
    for path in objects:
        class_uid = int(path.name.split(".")[1])
        assert f"/ext/{sources[class_uid]}/region=eu-west-1/" in str(path)
        assert pq.read_schema(path).equals(schema_for(class_uid))
    query = f"""
        SELECT v.cve.uid AS cve, s.base_score AS score, finding_info.uid AS uid
        FROM read_parquet('{out}/ext/wazuh-vulnerability/**/*.parquet'),
             UNNEST(vulnerabilities) AS t(v), UNNEST(v.cve.cvss) AS u(s)
        WHERE s.base_score >= 9 ORDER BY score DESC
    """
    rows = duckdb.sql(query).fetchall()
    assert rows == [("CVE-2023-38545", 10.0, finding_uid(CORPUS["vulnerability-detected-4-7"])),
                    ("CVE-2023-38545", 9.8, finding_uid(CORPUS["vulnerability-detected-4-7"]))]


def test_doctor_names_the_inactive_routes_and_probes_every_routed_class(tmp_path) -> None:
    pytest.importorskip("pyarrow", reason="the probe writes Parquet")
    from test_doctor import base_config, doctor, manager_tree

    config = base_config(tmp_path)
    config.update({"WAZUH_OCSF_OUTPUT_DIR": str(tmp_path / "lake"), "WAZUH_OCSF_OCSF_CLASS": "auto",
                   "WAZUH_OCSF_VULNERABILITY_FINDING_SOURCE": "wazuh-vulnerability"})
    home = manager_tree(tmp_path, config=config)
    code, checks, text = doctor(tmp_path, home, "--probe")
    assert code == 0, text
    detail = checks["config"]["detail"]
    assert "auto: alerts no route takes go to detection_finding; active routes: vulnerability_finding" in detail
    assert "inactive (no destination, their alerts go to detection_finding): compliance_finding, file_activity, " \
           "authentication; set WAZUH_OCSF_COMPLIANCE_FINDING_SOURCE" in detail
    probes = sorted(path.relative_to(tmp_path / "lake").parts[:2] for path in (tmp_path / "lake").rglob("*.parquet"))
    assert probes == [("ext", "wazuh"), ("ext", "wazuh-vulnerability")]  # SOURCE_LOCATION: the finding class


def test_doctor_mentions_the_deprecation_of_security_finding(tmp_path) -> None:
    pytest.importorskip("pyarrow", reason="doctor's checks import the flusher side")
    from test_doctor import base_config, doctor, manager_tree

    config = base_config(tmp_path)
    config["WAZUH_OCSF_OUTPUT_DIR"] = str(tmp_path / "lake")
    code, checks, text = doctor(tmp_path, manager_tree(tmp_path, config=config))
    assert code == 0, text
    assert "Security Finding (2001) is deprecated in OCSF 1.1.0" in checks["config"]["detail"]


def test_create_source_all_registers_one_source_per_routed_class(tmp_path, monkeypatch, capsys) -> None:
    """CreateCustomLogSource per class, with the real request shapes (botocore's Stubber)."""
    boto3 = pytest.importorskip("boto3")
    from botocore.stub import ANY, Stubber

    from wazuh_ocsf import cli
    from wazuh_ocsf.lake import custom_source as security_lake

    region, crawler = "eu-west-1", "arn:aws:iam::111122223333:role/AmazonSecurityLake-Glue-wazuh"
    config = tmp_path / "wazuh-ocsf.conf"
    config.write_text(f"WAZUH_OCSF_SPOOL_DIR={tmp_path / 'spool'}\nREGION={region}\nACCOUNT_ID=111122223333\n"
                      "WAZUH_OCSF_OCSF_CLASS=auto\nWAZUH_OCSF_AUTHENTICATION_SOURCE=wazuh-logins\n")
    for key in list(os.environ):
        if key.startswith("WAZUH_OCSF_"):
            monkeypatch.delenv(key)
    client = boto3.client("securitylake", region_name=region, aws_access_key_id="AKIDEXAMPLE",
                          aws_secret_access_key="x")
    monkeypatch.setattr(security_lake, "make_client", lambda region, endpoint_url=None: client)
    expected = [("wazuh", "DETECTION_FINDING"), ("wazuh-vulnerability", "VULNERABILITY_FINDING"),
                ("wazuh-compliance", "COMPLIANCE_FINDING"), ("wazuh-file-activity", "FILE_ACTIVITY"),
                ("wazuh-logins", "AUTHENTICATION")]
    with Stubber(client) as stubber:
        for name, event_class in expected:
            location = f"s3://aws-security-data-lake-{region}-abcdef123456/ext/{name}/"
            stubber.add_response(
                "create_custom_log_source",
                {"source": {"sourceName": name, "provider": {
                    "roleArn": f"arn:aws:iam::111122223333:role/AmazonSecurityLake-Provider-{name}-{region}",
                    "location": location}}},
                {"sourceName": name, "eventClasses": [event_class], "configuration": {
                    "crawlerConfiguration": {"roleArn": crawler},
                    "providerIdentity": {"principal": "111122223333", "externalId": ANY}}},
            )
        code = cli.main(["--config", str(config), "create-source", "--class", "all", "--crawler-role-arn", crawler,
                         "--principal", "111122223333"])
        stubber.assert_no_pending_responses()
    assert code == 0
    out = capsys.readouterr().out
    assert "must also be allowed" not in out  # each source's own role writes to it: no IAM edit needed
    settings = load_settings(path=str(config), environ={})
    assert settings.active_routes() == (2002, 2003, 1001, 3002)
    assert [settings.destination_prefix(uid) for uid in (2004, 2002, 2003, 1001, 3002)] == [
        f"ext/{name}/" for name, _ in expected]
    assert settings.role_arn.endswith("Provider-wazuh-eu-west-1")  # the finding class's role, the default
    assert [settings.destination_role(uid) for uid in (2004, 2002, 2003, 1001, 3002)] == [
        f"arn:aws:iam::111122223333:role/AmazonSecurityLake-Provider-{name}-{region}" for name, _ in expected]


def test_create_source_names_one_source_only(tmp_path, capsys) -> None:
    from wazuh_ocsf import cli

    config = tmp_path / "wazuh-ocsf.conf"
    config.write_text(f"WAZUH_OCSF_SPOOL_DIR={tmp_path / 'spool'}\nREGION=eu-west-1\n")
    code = cli.main(["--config", str(config), "create-source", "--class", "authentication", "--class", "all",
                     "--source-name", "x", "--crawler-role-arn", "arn:aws:iam::1:role/x", "--dry-run"])
    assert code != 0
    assert "--source-name: names one source" in capsys.readouterr().err


def test_installer_ocsf_class_auto_and_one_source_name_per_class() -> None:
    """The installer's settings: ``--ocsf-class auto``, ``--source-name NAME`` and ``CLASS=NAME``."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "installer"))  # as test_installer does
    from wazuh_ocsf_installer.cli import build_parser
    from wazuh_ocsf_installer.errors import UsageError
    from wazuh_ocsf_installer.plan import _config_updates

    args = build_parser().parse_args([
        "--ocsf-class", "auto", "--source-name", "wazuh", "--source-name", "vulnerability-finding=wazuh-vulns",
        "--source-name", "3002=wazuh-logins", "--source-location", "s3://lake/ext/wazuh/",
    ])
    assert _config_updates(args) == {
        "WAZUH_OCSF_OCSF_CLASS": "auto",
        "WAZUH_OCSF_SOURCE_LOCATION": "wazuh",
        "WAZUH_OCSF_VULNERABILITY_FINDING_SOURCE": "wazuh-vulns",
        "WAZUH_OCSF_AUTHENTICATION_SOURCE": "wazuh-logins",
        "WAZUH_OCSF_DETECTION_FINDING_LOCATION": "s3://lake/ext/wazuh/",  # the finding class of auto
    }
    with pytest.raises(UsageError, match="--source-name 'network=x'"):
        _config_updates(build_parser().parse_args(["--source-name", "network=x"]))


def test_installer_role_arn_per_class() -> None:
    """``--role-arn ARN`` is the finding class's (every class's default); ``CLASS=ARN`` one source's own."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "installer"))  # as test_installer does
    from wazuh_ocsf_installer.cli import build_parser
    from wazuh_ocsf_installer.errors import UsageError
    from wazuh_ocsf_installer.plan import _config_updates

    role = "arn:aws:iam::111122223333:role/AmazonSecurityLake-Provider-{}-eu-west-1"
    args = build_parser().parse_args([
        "--role-arn", role.format("wazuh"), "--role-arn", "vulnerability_finding=" + role.format("wazuh-vulns"),
        "--role-arn", "3002=" + role.format("wazuh-logins"),
    ])
    assert _config_updates(args) == {
        "WAZUH_OCSF_ROLE_ARN": role.format("wazuh"),
        "WAZUH_OCSF_VULNERABILITY_FINDING_ROLE_ARN": role.format("wazuh-vulns"),
        "WAZUH_OCSF_AUTHENTICATION_ROLE_ARN": role.format("wazuh-logins"),
    }
    with pytest.raises(UsageError, match="--role-arn 'network=arn"):
        _config_updates(build_parser().parse_args(["--role-arn", "network=" + role.format("x")]))
