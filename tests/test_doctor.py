"""``wazuh-ocsf doctor`` against a manager's directory tree and moto's S3/STS (IAM auth on).

Each broken setting must turn exactly its check to ``fail`` (and the exit status to 1) with a
fix; the good installation passes, and ``--probe`` leaves a zero-row Parquet object of the
real schema in the lake.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from ops_support import clean_env, cli, manager_tree, me
from s3_server import ACCOUNT_ID, REGION, allow

from wazuh_ocsf.flush.arrow_schema import schema_for
from wazuh_ocsf.operations.doctor import (
    FAIL,
    OK,
    SKIP,
    Check,
    Context,
    Layout,
    check_config,
    check_config_file,
    check_integration_file,
    check_spool,
    render,
)
from wazuh_ocsf.operations.ossec_conf import block_problems, ours

BUCKET = "aws-security-data-lake-us-east-1-doctor1"
EXTERNAL_ID = "wazuh-ext-doctor-5c1e"
PREFIXES = ("ext/wazuh/",)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds root-owned integration files, as the installer")


@pytest.fixture(scope="module")
def provider(lake):
    session, role_arn = lake.create_lake(BUCKET, prefixes=PREFIXES, external_id=EXTERNAL_ID)
    yield session, role_arn
    lake.delete_bucket(BUCKET)
    lake.delete_identities()


def base_config(home_root: Path) -> dict:
    return {
        "WAZUH_OCSF_SPOOL_DIR": str(home_root / "ossec" / "wazuh-ocsf" / "spool"),
        "WAZUH_OCSF_NODE_NAME": "manager-1",
        "SOURCE_LOCATION": "wazuh",
        "REGION": REGION,
        "ACCOUNT_ID": ACCOUNT_ID,
    }


def lake_config(home_root: Path, lake, role_arn: str, **changes: str) -> dict:
    config = base_config(home_root)
    config.update(
        {
            "AWS_BUCKET": BUCKET,
            "ROLE_ARN": role_arn,
            "EXTERNAL_ID": EXTERNAL_ID,
            "WAZUH_OCSF_S3_ENDPOINT_URL": lake.url,
            "WAZUH_OCSF_STS_ENDPOINT_URL": lake.url,
            "WAZUH_OCSF_S3_RETRIES": "0",
        }
    )
    config.update(changes)
    return config


def doctor(root: Path, home: Path, *extra: str, keys=None, text_mode: bool = False) -> tuple:
    """Run the doctor as a process; (exit status, {check name: check dict}, the text report).

    The text report is the process's own with ``text_mode``, else rendered from its JSON.
    """
    user, group = me()
    env = clean_env()
    if keys is not None:
        env.update({"AWS_ACCESS_KEY_ID": keys.access_key, "AWS_SECRET_ACCESS_KEY": keys.secret_key})
    args = [
        "--config", str(home / "etc" / "wazuh-ocsf.conf"), "doctor", "--wazuh-home", str(home),
        "--systemd-dir", str(root / "systemd"), "--cron-dir", str(root / "cron"), "--user", user, "--group", group,
    ]
    done = cli(*args, *extra, "--json", env=env)
    assert done.stderr == "" or "Traceback" not in done.stderr, done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)}
    for check in checks.values():
        assert check["status"] in ("ok", "warn", "fail", "skip")
        if check["status"] == FAIL:
            assert check["fix"], check
    text = cli(*args, *extra, env=env).stdout if text_mode else render([Check(**c) for c in checks.values()])
    return done.returncode, checks, text


def statuses(checks: dict) -> dict:
    return {name: check["status"] for name, check in checks.items()}


def test_good_installation_with_probe_passes_and_leaves_a_zero_row_object(tmp_path, lake, provider):
    session, role_arn = provider
    home = manager_tree(tmp_path, config=lake_config(tmp_path, lake, role_arn))
    code, checks, _ = doctor(tmp_path, home, "--probe", keys=session.get_credentials())
    assert statuses(checks) == {
        "config": OK,
        "config file permissions": OK,
        "wazuh version": OK,
        "ossec.conf integration": OK,
        "integration file": OK,
        "spool": checks["spool"]["status"],  # ok, or warn on a nearly full test disk
        "output directory": SKIP,
        "hook interpreter": OK,
        "flusher environment": OK,
        "flush schedule": OK,
        "hook or follow": "skip",  # no alerts.json in this tree: see test_lag.py
        "aws credentials": OK,
        "provider role": OK,
        "bucket": OK,
        "probe write": OK,
    }, checks
    assert code == 0, checks
    assert checks["aws credentials"]["detail"].startswith(f"arn:aws:iam::{ACCOUNT_ID}:user/wazuh-writer")
    assert "answers 403 to a read" in checks["bucket"]["detail"]
    keys = [k for k in lake.keys(BUCKET) if "doctor-probe" in k]
    assert len(keys) == 1
    assert keys[0].startswith(f"ext/wazuh/region={REGION}/accountId={ACCOUNT_ID}/eventDay=")
    assert keys[0].endswith(".2001." + keys[0].split("eventDay=")[1][:8] + ".0000.zstd.parquet")
    table = pq.read_table(io.BytesIO(lake.get(BUCKET, keys[0])["Body"]))
    assert table.num_rows == 0
    assert table.schema.equals(schema_for(2001), check_metadata=False)
    # Again, as people read it: the same object is overwritten, not multiplied.
    code, _, text = doctor(tmp_path, home, "--probe", keys=session.get_credentials(), text_mode=True)
    assert code == 0
    assert "[ ok ] probe write: wrote ext/wazuh/" in text
    assert text.splitlines()[-1].startswith("doctor: 0 failed, ")
    assert EXTERNAL_ID not in text
    assert [k for k in lake.keys(BUCKET) if "doctor-probe" in k] == keys


@pytest.mark.parametrize(
    ("changes", "failing", "words"),
    [
        ({"AWS_BUCKET": "aws-security-data-lake-us-east-1-nosuch"}, "probe write", "AccessDenied"),
        ({"EXTERNAL_ID": "wazuh-ext-wrong"}, "provider role", "sts:ExternalId"),
    ],
    ids=["wrong-bucket", "bad-external-id"],
)
def test_broken_lake_settings_fail_their_check(tmp_path, lake, provider, changes, failing, words):
    session, role_arn = provider
    home = manager_tree(tmp_path, config=lake_config(tmp_path, lake, role_arn, **changes))
    code, checks, text = doctor(tmp_path, home, "--probe", keys=session.get_credentials())
    assert code == 1
    assert [name for name, c in checks.items() if c["status"] == FAIL] == [failing], text
    assert words in checks[failing]["detail"] + checks[failing]["fix"]
    assert "wazuh-ext-wrong" not in text and EXTERNAL_ID not in text


def test_every_sources_provider_role_is_assumed(tmp_path, lake, provider):
    """Each class's source has its own provider role: doctor assumes every one the flusher will."""
    session, role_arn = provider
    other = lake.create_provider_role(  # the other source's role, trusting another account's identity
        "AmazonSecurityLake-Provider-wazuhdet-us-east-1", trusted_user="someone-else", external_id=EXTERNAL_ID,
        statements=[allow(["s3:PutObject"], [f"arn:aws:s3:::{BUCKET}/ext/wazuhdet/*"])],
    )
    config = lake_config(tmp_path, lake, role_arn, WAZUH_OCSF_DETECTION_FINDING_SOURCE="wazuhdet",
                         WAZUH_OCSF_DETECTION_FINDING_ROLE_ARN=other)
    home = manager_tree(tmp_path, config=config)
    code, checks, _ = doctor(tmp_path, home, keys=session.get_credentials())
    assert code == 1
    role = checks["provider role"]
    assert role["status"] == FAIL
    assert f"assumed {role_arn} with the external id" in role["detail"]
    assert f"cannot assume {other}" in role["detail"]
    assert "sts:ExternalId" in role["fix"]
    assert statuses(checks)["bucket"] == "skip"  # the flusher could not write that class: nothing to try


def test_wrong_credentials_fail_and_skip_what_depends_on_them(tmp_path, lake, provider):
    _, role_arn = provider

    class Keys:
        access_key, secret_key = "AKIAWRONGWRONGWRONG1", "not-the-secret"

    home = manager_tree(tmp_path, config=lake_config(tmp_path, lake, role_arn))
    code, checks, text = doctor(tmp_path, home, "--probe", keys=Keys())
    assert code == 1
    assert checks["aws credentials"]["status"] == FAIL
    assert "InvalidClientTokenId" in checks["aws credentials"]["detail"]
    assert statuses(checks)["provider role"] == "skip"
    assert statuses(checks)["bucket"] == "skip"
    assert statuses(checks)["probe write"] == "skip"
    assert "not-the-secret" not in text


def test_missing_role_arn_writes_with_the_callers_own_credentials(tmp_path, lake, provider):
    # An identity allowed to read: the bucket check then tells a missing bucket from a missing key.
    reader = lake.create_user("doctor-reader", {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                                                "Resource": "*"})
    config = lake_config(tmp_path, lake, "", AWS_BUCKET="aws-security-data-lake-us-east-1-nosuch")
    del config["ROLE_ARN"]
    home = manager_tree(tmp_path, config=config)
    code, checks, _ = doctor(tmp_path, home, keys=reader.get_credentials())
    assert code == 1
    assert statuses(checks)["provider role"] == "skip"
    assert checks["bucket"]["status"] == FAIL
    assert "NoSuchBucket" in checks["bucket"]["detail"]
    assert "WAZUH_OCSF_BUCKET" in checks["bucket"]["fix"]


def local_home(tmp_path: Path, **kwargs) -> Path:
    config = base_config(tmp_path)
    config["WAZUH_OCSF_OUTPUT_DIR"] = str(tmp_path / "lake")
    return manager_tree(tmp_path, config=config, **kwargs)


def only_failure(tmp_path, home) -> dict:
    code, checks, text = doctor(tmp_path, home)
    assert code == 1, text
    failed = [c for c in checks.values() if c["status"] == FAIL]
    assert len(failed) == 1, text
    return failed[0]


def test_local_only_installation_passes_and_skips_aws(tmp_path):
    home = local_home(tmp_path)
    code, checks, text = doctor(tmp_path, home, "--probe")
    assert code == 0, text
    assert [n for n, c in checks.items() if c["status"] == "skip"] == [
        "hook or follow", "aws credentials", "provider role", "bucket"
    ]
    probes = list((tmp_path / "lake").rglob("*doctor-probe*.parquet"))
    assert len(probes) == 1 and pq.read_table(probes[0]).num_rows == 0


def test_missing_ossec_block(tmp_path):
    failed = only_failure(tmp_path, local_home(tmp_path, block=False))
    assert failed["name"] == "ossec.conf integration"
    assert "no <integration> block named custom-wazuh-ocsf" in failed["detail"]


def test_unknown_tag_in_the_block(tmp_path):
    failed = only_failure(tmp_path, local_home(tmp_path, ossec_extra="    <verify_ssl>no</verify_ssl>\n"))
    assert failed["name"] == "ossec.conf integration"
    assert "<verify_ssl> is not a tag integratord accepts" in failed["detail"]


def test_alert_format_must_be_json(tmp_path):
    home = local_home(tmp_path)
    conf = home / "etc" / "ossec.conf"
    conf.write_text(conf.read_text().replace("<alert_format>json</alert_format>", ""))
    failed = only_failure(tmp_path, home)
    assert "<alert_format> is missing: it must be json" in failed["detail"]


def test_group_writable_integration_file(tmp_path):
    home = local_home(tmp_path)
    (home / "integrations" / "custom-wazuh-ocsf").chmod(0o770)
    failed = only_failure(tmp_path, home)
    assert failed["name"] == "integration file"
    assert "writable by its group or others" in failed["detail"]
    assert failed["fix"].endswith("chmod 0750 " + str(home / "integrations" / "custom-wazuh-ocsf"))
    # An older install's sh wrapper runs the .py beside it: that file is checked too.
    (home / "integrations" / "custom-wazuh-ocsf").chmod(0o750)
    (home / "integrations" / "custom-wazuh-ocsf.py").write_text("import sys\n")
    (home / "integrations" / "custom-wazuh-ocsf.py").chmod(0o770)
    failed = only_failure(tmp_path, home)
    assert failed["detail"].startswith(str(home / "integrations" / "custom-wazuh-ocsf.py"))
    assert failed["fix"].endswith("chmod 0750 " + " ".join(
        str(home / "integrations" / n) for n in ("custom-wazuh-ocsf", "custom-wazuh-ocsf.py")))


def test_the_interpreter_of_the_integrations_shebang_is_the_one_checked(tmp_path):
    """Installed, the integration's #! line names its interpreter: a missing one is named."""
    home = local_home(tmp_path)
    integration = home / "integrations" / "custom-wazuh-ocsf"
    gone = home / "wazuh-ocsf" / "gone" / "bin" / "python3"
    integration.write_bytes(f"#!{gone} -IS\n".encode() + integration.read_bytes().partition(b"\n")[2])
    failed = only_failure(tmp_path, home)
    assert failed["name"] == "hook interpreter"
    assert "no interpreter the integration can run" in failed["detail"] and str(gone) in failed["detail"]


def test_stale_flusher_environment(tmp_path):
    home = local_home(tmp_path)
    init = home / "wazuh-ocsf" / "lib" / "wazuh_ocsf" / "__init__.py"
    init.write_text(init.read_text().replace("__version__ = ", "__version__ = '9.9.9'  # ", 1))
    failed = only_failure(tmp_path, home)
    assert failed["name"] == "flusher environment"
    assert "stale" in failed["detail"] and "lib copy 9.9.9" in failed["detail"]


def test_hook_cannot_import_from_a_broken_lib_copy(tmp_path):
    home = local_home(tmp_path)
    (home / "wazuh-ocsf" / "lib" / "wazuh_ocsf" / "hook" / "run.py").write_text("raise ImportError('half-copied')\n")
    code, checks, _ = doctor(tmp_path, home)
    assert code == 1
    assert checks["hook interpreter"]["status"] == FAIL
    assert "half-copied" in checks["hook interpreter"]["detail"]


def test_no_schedule_and_a_disabled_timer(tmp_path):
    home = local_home(tmp_path)
    (tmp_path / "systemd" / "timers.target.wants" / "wazuh-ocsf-flush.timer").unlink()
    failed = only_failure(tmp_path, home)
    assert failed["name"] == "flush schedule"
    assert failed["fix"] == "systemctl enable --now wazuh-ocsf-flush.timer"
    shutil.rmtree(tmp_path / "systemd")
    (tmp_path / "cron" / "wazuh-ocsf").write_text("*/5 * * * * wazuh /var/ossec/wazuh-ocsf/venv/bin/wazuh-ocsf flush\n")
    code, checks, _ = doctor(tmp_path, home)
    assert code == 0 and checks["flush schedule"]["status"] == OK


def test_invalid_config_fails_with_the_setting_named(tmp_path):
    home = local_home(tmp_path)
    conf = home / "etc" / "wazuh-ocsf.conf"
    conf.write_text(conf.read_text() + "OCSF_CLASS=network_activity\n")
    code, checks, _ = doctor(tmp_path, home)
    assert code == 1
    assert checks["config"]["status"] == FAIL
    assert "OCSF_CLASS" in checks["config"]["detail"] and checks["spool"]["status"] == "skip"


def test_world_readable_config_file(tmp_path):
    home = local_home(tmp_path)
    (home / "etc" / "wazuh-ocsf.conf").chmod(0o644)
    failed = only_failure(tmp_path, home)
    assert failed["name"] == "config file permissions"
    assert "readable by every local user" in failed["detail"]


def test_spool_and_integration_file_as_another_user(tmp_path):
    """The manager's user is not root: ownership and modes decide (checked in-process)."""
    try:
        import pwd

        pwd.getpwnam("daemon")
    except KeyError:
        pytest.skip("no 'daemon' user on this machine")
    home = local_home(tmp_path)
    layout = Layout(str(home), str(tmp_path / "systemd"), str(tmp_path / "cron"), "daemon", "daemon")
    ctx = Context(layout, config_path=str(home / "etc" / "wazuh-ocsf.conf"), environ={})
    from wazuh_ocsf.operations.doctor import check_config

    assert check_config(ctx).status == OK
    spool = home / "wazuh-ocsf" / "spool"
    (spool / "segments").mkdir()
    result = check_spool(ctx)
    assert result.status == FAIL and f"daemon cannot write {spool}" in result.detail
    assert result.fix == f"chown -R daemon:daemon {spool} && chmod 0750 {spool}"
    os.chown(spool, 1, 1)
    result = check_spool(ctx)
    assert result.status == FAIL and str(spool / "segments") in result.detail  # root-owned inside
    os.chown(spool / "segments", 1, 1)
    assert check_spool(ctx).status in (OK, "warn")
    integration = check_integration_file(ctx)
    assert integration.status == FAIL and integration.detail.endswith("root:root 0750: daemon cannot rx it")
    os.chown(home / "integrations" / "custom-wazuh-ocsf", 0, 65534)  # root:nogroup
    integration = check_integration_file(ctx)
    assert integration.status == FAIL and "its group must be daemon (or root)" in integration.detail
    os.chown(home / "integrations" / "custom-wazuh-ocsf", 0, 1)
    assert check_integration_file(ctx).status == OK


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ('{"ocsf_class": "bogus"}', "<options> ocsf_class: expected auto, security_finding (2001) or detection"),
        ('{"ocsf_class": true}', "<options> ocsf_class: expected a string, got bool"),
        ('{"colour": "red"}', "unknown key(s) 'colour'"),
        ("[1]", "<options>: expected a JSON object"),
        ("{", "<options>: expected a JSON object"),
    ],
)
def test_options_in_ossec_conf_get_the_hooks_own_check(options, words):
    text = (
        "<ossec_config><integration><name>custom-wazuh-ocsf</name><alert_format>json</alert_format>"
        f"<options>{options}</options></integration></ossec_config>"
    )
    (block,) = ours(text)
    assert any(words in problem for problem in block_problems(block)), block_problems(block)


def test_good_options_in_ossec_conf_have_no_problem():
    text = (
        "<ossec_config><integration><name>custom-wazuh-ocsf</name><alert_format>json</alert_format>"
        '<options>{"ocsf_class": "detection_finding", "product_version": "4.9.0"}</options>'
        "</integration></ossec_config>"
    )
    (block,) = ours(text)
    assert block_problems(block) == []


def test_config_problems_name_the_file_wazuh_ocsf_config_points_to(tmp_path):
    elsewhere = tmp_path / "elsewhere.conf"
    elsewhere.write_text("WAZUH_OCSF_SEGMENT_MAX_BYTES=lots\n")
    ctx = Context(Layout(wazuh_home=str(tmp_path / "home")), environ={"WAZUH_OCSF_CONFIG": str(elsewhere)})
    check = check_config(ctx)
    assert check.status == FAIL
    assert check.fix == f"correct WAZUH_OCSF_SEGMENT_MAX_BYTES in {elsewhere}"
    assert check_config_file(ctx).detail.startswith(f"{elsewhere} is ")


# -- issue 12: an administrator's first hours -------------------------------------------------------


def _daemon_or_skip() -> None:
    import pwd

    try:
        pwd.getpwnam("daemon")
    except KeyError:
        pytest.skip("no 'daemon' user on this machine")


def test_an_output_dir_the_flush_cannot_create_fails_its_own_check(tmp_path):
    """Item 2: the flush writes as the spool's owner; a root-only parent stops it. Not `[ok] config`."""
    _daemon_or_skip()
    config = base_config(tmp_path)
    locked = tmp_path / "root-only"
    locked.mkdir(mode=0o755)
    config["WAZUH_OCSF_OUTPUT_DIR"] = str(locked / "lake")
    home = manager_tree(tmp_path, config=config)
    os.chown(home / "wazuh-ocsf" / "spool", 1, 1)  # daemon:daemon, as the installer leaves wazuh:wazuh
    code, checks, text = doctor(tmp_path, home)
    assert code == 1, text
    check = checks["output directory"]
    assert check["status"] == FAIL
    assert check["detail"] == (
        f"{locked}/lake does not exist and the flush (as daemon) cannot create it in {locked} (root:root 0755)"
    )
    assert check["fix"].startswith(f"mkdir -p {locked}/lake && chown daemon:")
    os.chown(locked, 1, 1)
    code, checks, text = doctor(tmp_path, home)
    assert checks["output directory"]["status"] == OK, text
    assert "the first flush (as daemon) creates it" in checks["output directory"]["detail"]


def test_a_scheduler_none_the_admin_chose_is_not_a_failure(tmp_path):
    """Item 13: `--scheduler none` is recorded as WAZUH_OCSF_SCHEDULER=none; doctor then exits 0."""
    home = local_home(tmp_path)
    shutil.rmtree(tmp_path / "systemd")
    failed = only_failure(tmp_path, home)
    assert failed["name"] == "flush schedule" and "WAZUH_OCSF_SCHEDULER=none" in failed["fix"]
    conf = home / "etc" / "wazuh-ocsf.conf"
    conf.write_text(conf.read_text() + "WAZUH_OCSF_SCHEDULER=none\n")
    code, checks, text = doctor(tmp_path, home)
    assert code == 0, text
    assert checks["flush schedule"]["status"] == OK
    assert checks["flush schedule"]["detail"].startswith("none, as chosen (WAZUH_OCSF_SCHEDULER=none)")


def test_an_http_only_setup_is_complete_and_shows_its_url_without_the_token(tmp_path):
    """Items 4 and 5: no bucket, no output dir, no source: the HTTP sink alone is a destination."""
    config = {
        "WAZUH_OCSF_SPOOL_DIR": str(tmp_path / "ossec" / "wazuh-ocsf" / "spool"),
        "WAZUH_OCSF_HTTP_URL": "https://collector.example:8088/services/collector/raw?token=abc123",
    }
    home = manager_tree(tmp_path, config=config)
    code, checks, text = doctor(tmp_path, home, text_mode=True)
    assert checks["config"]["status"] == OK, text
    assert (
        "class security_finding; detection_finding → https://collector.example:8088/services/collector/raw?****, "
        "security_finding → https://collector.example:8088/services/collector/raw?****"
    ) in checks["config"]["detail"]
    assert code == 0, text
    assert "abc123" not in text
