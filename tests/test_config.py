from __future__ import annotations

import pytest

from wazuh_ocsf.config import load_settings, parse_class, raw_spool_location, read_config_file
from wazuh_ocsf.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "wazuh-ocsf.conf"
    path.write_text(text)
    return str(path)


def test_defaults_without_a_file(tmp_path):
    settings = load_settings(wazuh_home=str(tmp_path), environ={})
    assert settings.spool_dir == f"{tmp_path}/wazuh-ocsf/spool"
    assert settings.ocsf_class == 2001
    assert settings.segment_max_bytes == 32 * 1024**2
    assert settings.segment_max_age == 300
    assert settings.fsync == "rotate"
    assert settings.spool_full_policy == "refuse"
    assert settings.bucket is None
    assert settings.node_name
    assert settings.source_of("bucket") == "default"


def test_file_env_and_alias_precedence(tmp_path):
    path = write(
        tmp_path,
        "# comment\n\nAWS_BUCKET=from-seed-name\nexport WAZUH_OCSF_REGION='eu-west-1'\n"
        'OCSF_CLASS=DETECTION_FINDING\nWAZUH_OCSF_SEGMENT_MAX_BYTES="4M"\n',
    )
    settings = load_settings(wazuh_home=str(tmp_path), path=path, environ={"REGION": "us-east-2"})
    assert settings.bucket == "from-seed-name"
    assert settings.region == "us-east-2"  # the environment beats the file
    assert settings.source_of("region") == "env:REGION"
    assert settings.ocsf_class == 2004
    assert settings.segment_max_bytes == 4 * 1024**2
    settings = load_settings(
        wazuh_home=str(tmp_path), path=path, environ={"REGION": "us-east-2", "WAZUH_OCSF_REGION": "ap-south-1"}
    )
    assert settings.region == "ap-south-1"  # the WAZUH_OCSF_ name beats the seed guide's


def test_config_path_from_environment(tmp_path):
    path = write(tmp_path, "WAZUH_OCSF_NODE_NAME=node-b\n")
    settings = load_settings(wazuh_home="/nonexistent", environ={"WAZUH_OCSF_CONFIG": path})
    assert settings.node_name == "node-b"
    assert settings.config_path == path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("WAZUH_OCSF_SEGMENT_MAX_BYTES=lots", r"WAZUH_OCSF_SEGMENT_MAX_BYTES: expected a size in bytes"),
        ("OCSF_CLASS=network_activity", r"OCSF_CLASS|WAZUH_OCSF_OCSF_CLASS.*security_finding \(2001\)"),
        ("WAZUH_OCSF_FSYNC=sometimes", r"WAZUH_OCSF_FSYNC: expected one of append, rotate, never"),
        ("ACCOUNT_ID=12345", r"ACCOUNT_ID: expected a 12-digit AWS account id"),
        ("SOURCE_LOCATION=a-source-name-over-twenty", r"SOURCE_LOCATION: .*20 characters"),
        ("WAZUH_OCSF_SSE=aws:kms", r"WAZUH_OCSF_SSE_KMS_KEY_ID: required"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path, line, message):
    path = write(tmp_path, line + "\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(wazuh_home=str(tmp_path), path=path, environ={})


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"^WAZUH_OCSF_LOCK_TIMEOUT: expected a duration"):
        load_settings(wazuh_home=str(tmp_path), environ={"WAZUH_OCSF_LOCK_TIMEOUT": "soon"})


def test_malformed_file_line_names_file_and_line(tmp_path):
    path = write(tmp_path, "WAZUH_OCSF_REGION=eu-west-1\nthis is not a setting\n")
    with pytest.raises(ConfigError, match=r"wazuh-ocsf.conf:2: expected KEY=VALUE"):
        read_config_file(path)


def test_destinations_per_class(tmp_path):
    path = write(
        tmp_path,
        "OCSF_CLASS=security_finding\nSOURCE_LOCATION=wazuh-sf\n"
        "WAZUH_OCSF_DETECTION_FINDING_LOCATION=s3://aws-security-data-lake-eu-west-1-x/ext/wazuh-df/1.0/\n",
    )
    settings = load_settings(wazuh_home=str(tmp_path), path=path, environ={})
    assert settings.destination_source(2001) == "wazuh-sf"
    assert settings.destination_prefix(2001) == "ext/wazuh-sf/"
    assert settings.destination_prefix(2004) == "ext/wazuh-df/1.0/"
    settings = load_settings(wazuh_home=str(tmp_path), environ={})
    assert not settings.has_destination(2001)
    assert not settings.has_destination(2004)


def test_product_version_from_version_json(tmp_path, shared_dir):
    (tmp_path / "VERSION.json").write_text((shared_dir / "wazuh" / "VERSION.json").read_text())
    assert load_settings(wazuh_home=str(tmp_path), environ={}).product_version == "4.14.7"


def test_masked_hides_secrets(tmp_path):
    settings = load_settings(wazuh_home=str(tmp_path), environ={"EXTERNAL_ID": "s3cr3t", "AWS_BUCKET": "my-bucket"})
    masked = settings.masked()
    assert masked["WAZUH_OCSF_EXTERNAL_ID"] == "****"
    assert masked["WAZUH_OCSF_BUCKET"] == "my-bucket"
    assert "s3cr3t" not in repr(masked)


@pytest.mark.parametrize("word", ["security_finding", "SECURITY_FINDING", "security-finding", "2001"])
def test_parse_class_accepts_every_spelling(word):
    assert parse_class(word) == 2001


def test_raw_spool_location_follows_load_settings_without_validating_the_rest(tmp_path):
    home = str(tmp_path)
    text = "WAZUH_OCSF_SPOOL_DIR={home}/from-file\nWAZUH_OCSF_NODE_NAME=file-node\nWAZUH_OCSF_FSYNC=x\n"
    conf = write(tmp_path, text)
    env = {"WAZUH_OCSF_CONFIG": str(conf)}
    assert raw_spool_location(home, env) == (f"{home}/from-file", "file-node")
    env.update(WAZUH_OCSF_SPOOL_DIR="{home}/from-env", WAZUH_OCSF_NODE_NAME="env-node")
    assert raw_spool_location(home, env) == (f"{home}/from-env", "env-node")  # {home} in the env too
    settings = load_settings(wazuh_home=home, environ={**env, "WAZUH_OCSF_CONFIG": str(tmp_path / "absent")})
    assert raw_spool_location(home, {**env, "WAZUH_OCSF_CONFIG": str(tmp_path / "absent")}) == (
        settings.spool_dir,
        settings.node_name,
    )


def test_raw_spool_location_of_an_unparseable_file_is_the_defaults(tmp_path):
    conf = write(tmp_path, "this is not KEY=VALUE\n")
    spool_dir, node = raw_spool_location(str(tmp_path), {"WAZUH_OCSF_CONFIG": str(conf)})
    assert spool_dir == f"{tmp_path}/wazuh-ocsf/spool"
    assert node == load_settings(wazuh_home=str(tmp_path), environ={}, path=str(tmp_path / "absent")).node_name


# -- an administrator's mistakes (issue 12, items 6 and 7), met through the command line ---------


def _status_of(tmp_path, conf_text: str, **env: str):
    from ops_support import clean_env, cli

    conf = tmp_path / "wazuh-ocsf.conf"
    conf.write_text(conf_text)
    base = {"WAZUH_OCSF_WAZUH_HOME": str(tmp_path), "WAZUH_OCSF_SPOOL_DIR": str(tmp_path / "spool")}
    return cli("--config", str(conf), "status", env=clean_env(**base, **env))


def test_a_misspelt_key_in_the_file_is_an_error_naming_the_closest_setting(tmp_path):
    done = _status_of(tmp_path, "WAZUH_OCSF_OUTPUT_DIR=/tmp/x\nWAZUH_OCSF_SPOOL_MAX_BYTE=4G\n")
    assert done.returncode == 3, done.stdout
    assert "WAZUH_OCSF_SPOOL_MAX_BYTE: not a wazuh-ocsf setting (did you mean WAZUH_OCSF_SPOOL_MAX_BYTES?)" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def test_a_misspelt_environment_variable_only_warns(tmp_path):
    done = _status_of(tmp_path, "WAZUH_OCSF_OUTPUT_DIR=/tmp/x\n", WAZUH_OCSF_SPOOL_MAX_BYTE="4G")
    assert done.returncode in (0, 1), done.stderr
    assert done.stderr.count("WAZUH_OCSF_SPOOL_MAX_BYTE in the environment is not a wazuh-ocsf setting") == 1
    assert "did you mean WAZUH_OCSF_SPOOL_MAX_BYTES?" in done.stderr
    assert "wazuh-ocsf status" in done.stdout


@pytest.mark.parametrize(
    "region, words",
    [
        ("eu-west-9", "no AWS region has this name"),
        ("EU-West-1", "region names are lowercase: eu-west-1"),
        ("eu-west-1a", "eu-west-1a is an availability zone; its region is eu-west-1"),
    ],
)
def test_a_region_aws_does_not_have_is_refused(tmp_path, region, words):
    done = _status_of(tmp_path, f"WAZUH_OCSF_OUTPUT_DIR=/tmp/x\nREGION={region}\n")
    assert done.returncode == 3
    assert "ERROR: configuration: WAZUH_OCSF_REGION: " in done.stderr and words in done.stderr


def test_a_lake_bucket_of_another_region_is_refused(tmp_path):
    done = _status_of(tmp_path, "AWS_BUCKET=aws-security-data-lake-eu-west-1-abcdef123456\nREGION=us-east-1\n")
    assert done.returncode == 3
    assert "is the Security Lake bucket of eu-west-1, but WAZUH_OCSF_REGION is us-east-1" in done.stderr
    ok = _status_of(tmp_path, "AWS_BUCKET=aws-security-data-lake-us-gov-west-1-abc123\nREGION=us-gov-west-1\n")
    assert "ERROR" not in ok.stderr


@pytest.mark.parametrize(
    "bucket, words",
    [
        ("s3://aws-security-data-lake-eu-west-1-abc", "write aws-security-data-lake-eu-west-1-abc without s3://"),
        ("My_Bucket", "lowercase letters, digits, dots and hyphens"),
        ("ab", "3 to 63 characters"),
        ("192.168.1.10", "not an IP address"),
    ],
)
def test_a_bucket_that_is_not_a_bucket_name_is_refused(tmp_path, bucket, words):
    done = _status_of(tmp_path, f"AWS_BUCKET={bucket}\nREGION=eu-west-1\n")
    assert done.returncode == 3
    assert "ERROR: configuration: WAZUH_OCSF_BUCKET: " in done.stderr and words in done.stderr
