"""``wazuh-ocsf create-source``: CreateCustomLogSource with the real request and reply shapes.

moto does not implement Security Lake, so this is the one place a stub stands in for the
service: botocore's ``Stubber`` on a real ``securitylake`` client, which validates every
request and reply against the service model. The config file is updated for real.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from wazuh_ocsf import cli
from wazuh_ocsf.config import load_settings
from wazuh_ocsf.config_file import update_settings
from wazuh_ocsf.errors import ConfigError

REGION = "eu-west-1"
CRAWLER = "arn:aws:iam::111122223333:role/AmazonSecurityLake-Glue-wazuh"
PROVIDER_ROLE = "arn:aws:iam::111122223333:role/AmazonSecurityLake-Provider-wazuh-eu-west-1"
LOCATION = "s3://aws-security-data-lake-eu-west-1-abcdef123456/ext/wazuh/"
CONFIG = """# wazuh-ocsf: written by the installer
WAZUH_OCSF_SPOOL_DIR={spool}

# the lake
REGION=eu-west-1
ACCOUNT_ID=111122223333
SOURCE_LOCATION=wazuh
ROLE_ARN=arn:aws:iam::111122223333:role/old
"""


def reply(name: str, class_word: str) -> dict:
    return {
        "source": {
            "sourceName": name,
            "sourceVersion": "1.0",
            "provider": {"roleArn": PROVIDER_ROLE, "location": LOCATION.replace("wazuh", name)},
            "attributes": {
                "crawlerArn": f"arn:aws:glue:{REGION}:111122223333:crawler/{name}",
                "databaseArn": f"arn:aws:glue:{REGION}:111122223333:database/amazon_security_lake_glue_db",
                "tableArn": f"arn:aws:glue:{REGION}:111122223333:table/{name}_{class_word.lower()}",
            },
        }
    }


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "wazuh-ocsf.conf"
    path.write_text(CONFIG.format(spool=tmp_path / "spool"))
    path.chmod(0o640)
    for key in list(os.environ):
        if key.startswith("WAZUH_OCSF_"):
            monkeypatch.delenv(key)
    return path


def test_creates_the_source_and_writes_role_and_location(security_lake_stub, config, capsys):
    expected = {
        "sourceName": "wazuh",
        "eventClasses": ["SECURITY_FINDING"],
        "configuration": {
            "crawlerConfiguration": {"roleArn": CRAWLER},
            "providerIdentity": {"principal": "444455556666", "externalId": "wazuh-ext-0001"},
        },
        "sourceVersion": "1.0",
    }
    security_lake_stub.add_response("create_custom_log_source", reply("wazuh", "SECURITY_FINDING"), expected)
    before = config.read_text()
    code = cli.main([
        "--config", str(config), "create-source", "--crawler-role-arn", CRAWLER, "--principal", "444455556666",
        "--external-id", "wazuh-ext-0001", "--source-version", "1.0", "--json",
    ])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "role_arn": PROVIDER_ROLE,
        "location": LOCATION,
        "bucket": "aws-security-data-lake-eu-west-1-abcdef123456",
        "source_name": "wazuh",
        "class": "security_finding",
        "config_path": str(config),
        "crawler_role_arn": CRAWLER,
        "crawler_role": "given",
    }
    after = config.read_text()
    assert after == before.replace("ROLE_ARN=arn:aws:iam::111122223333:role/old", f"ROLE_ARN={PROVIDER_ROLE}") + (
        "WAZUH_OCSF_BUCKET=aws-security-data-lake-eu-west-1-abcdef123456\n"
        "WAZUH_OCSF_SECURITY_FINDING_SOURCE=wazuh\n"
        f"WAZUH_OCSF_SECURITY_FINDING_LOCATION={LOCATION}\n"
        "WAZUH_OCSF_EXTERNAL_ID=wazuh-ext-0001\n"
    )
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    settings = load_settings(path=str(config), environ={})
    assert (settings.role_arn, settings.bucket, settings.external_id) == (
        PROVIDER_ROLE, "aws-security-data-lake-eu-west-1-abcdef123456", "wazuh-ext-0001"
    )
    assert settings.destination_prefix(2001) == "ext/wazuh/"


def test_detection_finding_class_and_a_generated_external_id(security_lake_stub, config, capsys):
    security_lake_stub.add_response(
        "create_custom_log_source",
        reply("wazuhdet", "DETECTION_FINDING"),
        {
            "sourceName": "wazuhdet",
            "eventClasses": ["DETECTION_FINDING"],
            "configuration": {
                "crawlerConfiguration": {"roleArn": CRAWLER},
                "providerIdentity": {"principal": "111122223333", "externalId": stubbed_any()},
            },
        },
    )
    code = cli.main([
        "--config", str(config), "create-source", "--class", "detection_finding", "--source-name", "wazuhdet",
        "--crawler-role-arn", CRAWLER, "--principal", "111122223333",
    ])
    assert code == 0
    text = capsys.readouterr().out
    assert "created custom source wazuhdet (detection_finding)" in text
    settings = load_settings(path=str(config), environ={})
    assert len(settings.external_id) == 32 and settings.external_id not in text
    assert settings.destination_prefix(2004) == "ext/wazuhdet/"
    assert settings.destination_prefix(2001) == "ext/wazuh/"  # the other class keeps its source
    # ... and its provider role: each source has its own, allowed to write to its own location only
    assert settings.role_arn == "arn:aws:iam::111122223333:role/old"
    assert settings.detection_finding_role_arn == PROVIDER_ROLE
    assert (settings.destination_role(2001), settings.destination_role(2004)) == (settings.role_arn, PROVIDER_ROLE)


def stubbed_any():
    from botocore.stub import ANY

    return ANY


def test_conflict_is_explained_and_the_config_untouched(security_lake_stub, config, capsys):
    security_lake_stub.add_client_error(
        "create_custom_log_source", service_error_code="ConflictException", service_message="already exists",
        http_status_code=409,
    )
    before = config.read_text()
    code = cli.main(["--config", str(config), "create-source", "--crawler-role-arn", CRAWLER, "--principal",
                     "111122223333", "--external-id", "abc"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("ERROR: CreateCustomLogSource wazuh failed: ConflictException: already exists; a custom")
    assert config.read_text() == before


def test_dry_run_masks_the_external_id_and_sends_nothing(security_lake_stub, config, capsys):
    code = cli.main(["--config", str(config), "create-source", "--crawler-role-arn", CRAWLER,
                     "--external-id", "secret-ext-9", "--dry-run"])
    assert code == 0
    out = capsys.readouterr().out
    printed = json.loads(out)
    assert [(r["service"], r["operation"]) for r in printed["requests"]] == [("securitylake", "CreateCustomLogSource")]
    request = printed["requests"][0]["params"]
    assert request["configuration"]["providerIdentity"]["externalId"] == "****"
    assert request["configuration"]["crawlerConfiguration"]["roleArn"] == CRAWLER
    assert request["eventClasses"] == ["SECURITY_FINDING"]
    assert "secret-ext-9" not in out


def test_update_settings_refuses_values_that_would_not_read_back(tmp_path):
    path = tmp_path / "c.conf"
    path.write_text("# keep me\nexport AWS_BUCKET=old\n")
    assert update_settings(str(path), {"bucket": "new"}) == ["WAZUH_OCSF_BUCKET=new"]
    assert path.read_text() == "# keep me\nexport AWS_BUCKET=new\n"
    with pytest.raises(ConfigError, match="WAZUH_OCSF_ROLE_ARN: refusing to write"):
        update_settings(str(path), {"role_arn": "a\nb"})
