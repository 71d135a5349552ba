"""``wazuh-ocsf doctor --lake``: the custom source, provider role trust, Glue crawler, table and partitions.

IAM and Glue are moto's server with authentication on, reached through boto3's real code
path (``AWS_ENDPOINT_URL_IAM``/``_GLUE``) and signed by a read-only identity whose policy is
README's: a check that needs more than List/Get fails these tests. The Glue table is built
the way Security Lake's crawler infers it, from Parquet the flusher really wrote.

Stand-ins, with the real request and reply shapes: Security Lake's ``ListLogSources``
(moto lacks the API) is a botocore ``Stubber``; the crawler's ``LastCrawl`` is answered by a
``before-call`` handler on the real Glue client, only for ``GetCrawler``, because moto's
crawls never fail and report a status ("COMPLETED") that Glue never returns.
"""

from __future__ import annotations

import datetime
import json
import os

import pyarrow.parquet as pq
import pytest
from botocore.awsrequest import AWSResponse
from flush_support import make_events, make_settings, spool_events
from s3_server import ACCOUNT_ID, REGION, allow, policy

from wazuh_ocsf import cli
from wazuh_ocsf.config import load_settings
from wazuh_ocsf.flush.flusher import flush
from wazuh_ocsf.lake import checks as lake_checks
from wazuh_ocsf.lake.glue_schema import glue_columns
from wazuh_ocsf.operations.doctor import FAIL, OK, SKIP, WARN, Context, Layout
from wazuh_ocsf.sinks.local import LocalSink

BUCKET = "aws-security-data-lake-us-east-1-o2x8a4"
PROVIDER = f"AmazonSecurityLake-Provider-wazuh-{REGION}"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/{PROVIDER}"
DATABASE = "amazon_security_lake_glue_db_us_east_1"
TABLE = "amazon_security_lake_table_us_east_1_ext_wazuh"
EXTERNAL_ID = "lake-ext-0042"
READ_ONLY = [allow(["iam:GetRole", "glue:GetCrawler", "glue:GetTable", "glue:GetPartitions",
                    "securitylake:ListLogSources"], "*")]


def today(offset: int = 0) -> str:
    day = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)
    return day.strftime("%Y%m%d")


def log_sources(location: str = f"s3://{BUCKET}/ext/wazuh/", role: str = PROVIDER_ARN, name: str = "wazuh") -> dict:
    """ListLogSources' reply (the shape of the AWS CLI reference's example) with our source and another."""
    def custom(source_name, source_location, role_arn):
        return {"customLogSource": {
            "sourceName": source_name,
            "attributes": {
                "crawlerArn": f"arn:aws:glue:{REGION}:{ACCOUNT_ID}:crawler/{source_name}",
                "databaseArn": f"arn:aws:glue:{REGION}:{ACCOUNT_ID}:database/{DATABASE}",
                "tableArn": f"arn:aws:glue:{REGION}:{ACCOUNT_ID}:table/amazon_security_lake_table_us_east_1_ext_"
                            f"{source_name.lower()}",
            },
            "provider": {"location": source_location, "roleArn": role_arn},
        }}

    return {"sources": [{
        "account": ACCOUNT_ID,
        "region": REGION,
        "sources": [
            {"awsLogSource": {"sourceName": "SH_FINDINGS", "sourceVersion": "2.0"}},
            custom(name, location, role),
            custom("other", f"s3://{BUCKET}/ext/other/", PROVIDER_ARN.replace("wazuh", "other")),
        ],
    }]}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory) -> tuple:
    """Columns and partition keys of the table the crawler infers from a flushed object."""
    tmp_path = tmp_path_factory.mktemp("crawled")
    settings = make_settings(tmp_path)
    spool_events(settings, make_events(10, days=1))
    out = tmp_path / "lake"
    assert flush(settings, [LocalSink(settings, out)]).ok
    path = next(out.rglob("*.parquet"))
    keys = [part.split("=", 1)[0].lower() for part in path.relative_to(out).parts if "=" in part]
    return glue_columns(pq.read_schema(path)), [{"Name": key, "Type": "string"} for key in keys]


@pytest.fixture
def aws(lake, crawled, monkeypatch):
    """A lake as Security Lake leaves it after create-source, a flush and a crawl; a read-only identity."""
    iam, glue = lake.client("iam"), lake.client("glue")
    trust = policy({
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
    })
    iam.create_role(RoleName=PROVIDER, AssumeRolePolicyDocument=trust)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    glue.create_crawler(
        Name="wazuh", Role=f"arn:aws:iam::{ACCOUNT_ID}:role/wazuh-ocsf-glue-wazuh-{REGION}",
        DatabaseName=DATABASE, Targets={"S3Targets": [{"Path": f"s3://{BUCKET}/ext/wazuh/"}]},
    )
    columns, keys = crawled
    glue.create_table(DatabaseName=DATABASE, TableInput={
        "Name": TABLE,
        "StorageDescriptor": {"Columns": columns, "Location": f"s3://{BUCKET}/ext/wazuh/"},
        "PartitionKeys": keys,
        "Parameters": {"classification": "parquet"},
    })
    for day in (today(-40), today(-1), today()):
        glue.create_partition(DatabaseName=DATABASE, TableName=TABLE, PartitionInput={
            "Values": [REGION, ACCOUNT_ID, day],
            "StorageDescriptor": {"Location": f"s3://{BUCKET}/ext/wazuh/region={REGION}/accountId={ACCOUNT_ID}/"
                                              f"eventDay={day}/"},
        })
    reader = lake.create_user("lake-reader", *READ_ONLY)
    for key in list(os.environ):
        if key.startswith(("WAZUH_OCSF_", "AWS_")):
            monkeypatch.delenv(key)
    for key, value in lake.environment(reader, "iam", "glue").items():
        monkeypatch.setenv(key, value)
    yield lake
    glue.delete_database(Name=DATABASE)
    glue.delete_crawler(Name="wazuh")
    lake.delete_identities()


@pytest.fixture
def last_crawl(aws, monkeypatch):
    """Set ``last_crawl["value"]`` to the ``LastCrawl`` GetCrawler returns (None: never ran).

    The rest of the reply is moto's own GetCrawler answer for the crawler asked for.
    """
    plus_one = datetime.timezone(datetime.timedelta(hours=1))
    state = {"value": {"Status": "SUCCEEDED", "StartTime": datetime.datetime(2026, 1, 2, 4, 4, tzinfo=plus_one),
                       "LogGroup": "/aws-glue/crawlers", "LogStream": "wazuh"}}
    original = lake_checks._client
    admin_glue = aws.client("glue")

    def answer(params, **_):
        name = json.loads(params["body"])["Name"]
        crawler = admin_glue.get_crawler(Name=name)["Crawler"]
        if state["value"] is not None:
            crawler["LastCrawl"] = state["value"]
        return AWSResponse(None, 200, {}, None), {"Crawler": crawler}

    def client(ctx, service):
        made = original(ctx, service)
        if service == "glue":
            made.meta.events.register("before-call.glue.GetCrawler", answer, unique_id="test-last-crawl")
        return made

    monkeypatch.setattr(lake_checks, "_client", client)
    return state


def write_config(tmp_path, **changes: str) -> str:
    values = {
        "AWS_BUCKET": BUCKET, "REGION": REGION, "ACCOUNT_ID": ACCOUNT_ID, "SOURCE_LOCATION": "wazuh",
        "ROLE_ARN": PROVIDER_ARN, "EXTERNAL_ID": EXTERNAL_ID,
        "WAZUH_OCSF_SPOOL_DIR": str(tmp_path / "spool"),
    }
    values.update(changes)
    path = tmp_path / "wazuh-ocsf.conf"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items() if v is not None))
    return str(path)


def doctor_lake(tmp_path, capsys, **changes: str) -> tuple:
    code = cli.main(["--config", write_config(tmp_path, **changes), "doctor", "--wazuh-home", str(tmp_path),
                     "--lake", "--json"])
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    for check in checks.values():
        if check["status"] in (FAIL, WARN):
            assert check["fix"], check
    return code, checks


def statuses(checks: dict) -> dict:
    return {name: check["status"] for name, check in checks.items()}


def test_a_healthy_lake_passes_with_read_only_permissions(aws, security_lake_stub, last_crawl, tmp_path, capsys):
    security_lake_stub.add_response("list_log_sources", log_sources(), {"regions": [REGION]})
    code, checks = doctor_lake(tmp_path, capsys)
    assert statuses(checks) == {
        "config": OK,
        "custom source (security_finding)": OK,
        "provider role trust (security_finding)": OK,
        "glue crawler (security_finding)": OK,
        "glue table (security_finding)": OK,
        "latest partition (security_finding)": OK,
    }, checks
    assert code == 0
    assert checks["custom source (security_finding)"]["detail"] == (
        f"wazuh in {REGION} (account {ACCOUNT_ID}): s3://{BUCKET}/ext/wazuh/, provider role {PROVIDER_ARN}"
    )
    assert checks["provider role trust (security_finding)"]["detail"] == (
        f"{PROVIDER_ARN} trusts arn:aws:iam::{ACCOUNT_ID}:root with the configured external id"
    )
    assert checks["glue crawler (security_finding)"]["detail"] == (
        "wazuh (READY): last crawl at 2026-01-02 03:04 UTC succeeded"
    )
    assert checks["glue table (security_finding)"]["detail"].startswith(f"{DATABASE}.{TABLE}: ")
    latest = checks["latest partition (security_finding)"]["detail"]
    assert latest == f"eventDay={today()} is the newest of 3 partitions"
    assert EXTERNAL_ID not in json.dumps(checks)


def test_a_missing_or_different_source_fails_with_fixes(aws, security_lake_stub, last_crawl, tmp_path, capsys):
    security_lake_stub.add_response("list_log_sources", log_sources(name="wazuh2"), {"regions": [REGION]})
    code, checks = doctor_lake(tmp_path, capsys)
    assert code == 1
    source = checks["custom source (security_finding)"]
    assert (source["status"], source["detail"]) == (
        FAIL, f"no custom source named wazuh in {REGION} (custom sources there: other, wazuh2)"
    )
    assert source["fix"].startswith("wazuh-ocsf create-source --class security_finding --source-name wazuh "
                                    "--create-glue-role")
    assert {statuses(checks)[n] for n in checks if n not in ("config", "custom source (security_finding)")} == {SKIP}

    security_lake_stub.add_response("list_log_sources", log_sources(location=f"s3://{BUCKET}/ext/wazuh/1.0/",
                                                         role=PROVIDER_ARN + "-new"), {"regions": [REGION]})
    code, checks = doctor_lake(tmp_path, capsys)
    source = checks["custom source (security_finding)"]
    assert source["status"] == FAIL
    assert source["detail"] == (
        f"wazuh: its location is s3://{BUCKET}/ext/wazuh/1.0/ but the flusher writes under ext/wazuh/; its provider "
        f"role is {PROVIDER_ARN}-new, the flusher assumes {PROVIDER_ARN} (WAZUH_OCSF_ROLE_ARN)"
    )


def test_a_source_with_its_own_provider_role_matches_its_class_role(aws, security_lake_stub, last_crawl, tmp_path,
                                                                   capsys):
    """Each source has its own provider role: ``<CLASS>_ROLE_ARN`` names it, ``ROLE_ARN`` stays the default."""
    own = PROVIDER_ARN.replace("Provider-wazuh", "Provider-wazuh-own")
    security_lake_stub.add_response("list_log_sources", log_sources(role=own), {"regions": [REGION]})
    _, checks = doctor_lake(tmp_path, capsys, WAZUH_OCSF_SECURITY_FINDING_ROLE_ARN=own)
    source = checks["custom source (security_finding)"]
    assert (source["status"], source["detail"]) == (
        OK, f"wazuh in {REGION} (account {ACCOUNT_ID}): s3://{BUCKET}/ext/wazuh/, provider role {own}"
    )


def test_security_lake_denied_is_explained(aws, security_lake_stub, tmp_path, capsys):
    security_lake_stub.add_client_error("list_log_sources", service_error_code="AccessDeniedException",
                             service_message="not the delegated administrator", http_status_code=403)
    code, checks = doctor_lake(tmp_path, capsys)
    source = checks["custom source (security_finding)"]
    assert code == 1 and source["status"] == FAIL
    assert source["detail"] == f"ListLogSources {REGION}: AccessDeniedException: not the delegated administrator"
    assert "securitylake:ListLogSources" in source["fix"]


@pytest.mark.parametrize(("config", "expected"), [
    ({"EXTERNAL_ID": "another-id"}, (FAIL, "with another external id than WAZUH_OCSF_EXTERNAL_ID")),
    ({"EXTERNAL_ID": None}, (FAIL, "requires an external id; WAZUH_OCSF_EXTERNAL_ID is not set")),
    ({"ACCOUNT_ID": "999988887777"}, (WARN, f"trusts arn:aws:iam::{ACCOUNT_ID}:root, not ACCOUNT_ID 999988887777")),
])
def test_provider_role_trust_mismatches(aws, security_lake_stub, last_crawl, tmp_path, capsys, config, expected):
    security_lake_stub.add_response("list_log_sources", log_sources(), {"regions": [REGION]})
    _, checks = doctor_lake(tmp_path, capsys, **config)
    trust = checks["provider role trust (security_finding)"]
    assert trust["status"] == expected[0]
    assert expected[1] in trust["detail"]
    assert "another-id" not in trust["detail"] and EXTERNAL_ID not in trust["detail"]


def test_crawler_never_ran_or_failed(aws, security_lake_stub, last_crawl, tmp_path, capsys):
    security_lake_stub.add_response("list_log_sources", log_sources(), {"regions": [REGION]})
    last_crawl["value"] = None
    _, checks = doctor_lake(tmp_path, capsys)
    crawler = checks["glue crawler (security_finding)"]
    assert (crawler["status"], crawler["detail"]) == (
        WARN, "wazuh (READY) has never run, so there is no table to query yet"
    )
    assert "aws glue start-crawler --name wazuh" in crawler["fix"]

    security_lake_stub.add_response("list_log_sources", log_sources(), {"regions": [REGION]})
    last_crawl["value"] = {"Status": "FAILED", "ErrorMessage": "Service Principal: glue.amazonaws.com is not "
                           "authorized to perform: kms:Decrypt", "StartTime": datetime.datetime(2026, 1, 2, 3, 4)}
    code, checks = doctor_lake(tmp_path, capsys)
    crawler = checks["glue crawler (security_finding)"]
    assert code == 1
    assert (crawler["status"], crawler["detail"]) == (
        FAIL, "wazuh: last crawl at 2026-01-02 03:04 UTC FAILED: Service Principal: glue.amazonaws.com is not "
              "authorized to perform: kms:Decrypt"
    )
    assert "kms:Decrypt" in crawler["fix"] and "--create-glue-role" in crawler["fix"]


def test_moto_crawler_that_never_ran_through_the_real_client(aws, security_lake_stub, tmp_path, capsys):
    """No stand-in for GetCrawler at all: moto's crawler, created and never started."""
    security_lake_stub.add_response("list_log_sources", log_sources(), {"regions": [REGION]})
    _, checks = doctor_lake(tmp_path, capsys)
    assert checks["glue crawler (security_finding)"]["status"] == WARN
    assert checks["glue crawler (security_finding)"]["detail"] == (
        "wazuh (READY) has never run, so there is no table to query yet"
    )


def test_a_drifted_table_is_reported(aws, security_lake_stub, last_crawl, tmp_path, capsys):
    glue = aws.client("glue")
    table = glue.get_table(DatabaseName=DATABASE, Name=TABLE)["Table"]
    columns = [c for c in table["StorageDescriptor"]["Columns"] if c["Name"] != "attacks"]
    for column in columns:
        if column["Name"] == "finding":
            column["Type"] = "struct<uid:string,title:string>"  # types dropped
        if column["Name"] == "time":
            column["Type"] = "string"
    glue.update_table(DatabaseName=DATABASE, TableInput={
        "Name": TABLE, "StorageDescriptor": {"Columns": columns, "Location": f"s3://{BUCKET}/ext/wazuh/"},
        "PartitionKeys": table["PartitionKeys"],
    })
    security_lake_stub.add_response("list_log_sources", log_sources(), {"regions": [REGION]})
    code, checks = doctor_lake(tmp_path, capsys)
    check = checks["glue table (security_finding)"]
    assert code == 1 and check["status"] == FAIL
    assert check["detail"] == (
        f"{DATABASE}.{TABLE}: 3 column(s) Athena cannot read as we write them: time: the table has string, our "
        "Parquet bigint; finding.types: missing from the table's struct, so Athena never returns it; attacks: "
        "missing from the table, so Athena never returns it"
    )
    assert check["fix"].startswith("re-run the crawler (aws glue start-crawler --name wazuh)")


def test_a_table_of_the_other_class_is_named_as_such(aws, security_lake_stub, last_crawl, tmp_path, capsys):
    from wazuh_ocsf.flush.arrow_schema import schema_for

    glue = aws.client("glue")
    table = glue.get_table(DatabaseName=DATABASE, Name=TABLE)["Table"]
    glue.update_table(DatabaseName=DATABASE, TableInput={
        "Name": TABLE, "PartitionKeys": table["PartitionKeys"],
        "StorageDescriptor": {"Columns": glue_columns(schema_for(2004)), "Location": f"s3://{BUCKET}/ext/wazuh/"},
    })
    security_lake_stub.add_response("list_log_sources", log_sources(), {"regions": [REGION]})
    _, checks = doctor_lake(tmp_path, capsys)
    detail = checks["glue table (security_finding)"]["detail"]
    assert detail.endswith("; the table's columns are those of detection_finding, not security_finding: objects "
                           "of another class reach this source")


def test_no_table_and_stale_partitions(aws, security_lake_stub, last_crawl, tmp_path, capsys):
    glue = aws.client("glue")
    for day in (today(-1), today()):
        glue.delete_partition(DatabaseName=DATABASE, TableName=TABLE, PartitionValues=[REGION, ACCOUNT_ID, day])
    security_lake_stub.add_response("list_log_sources", log_sources(), {"regions": [REGION]})
    _, checks = doctor_lake(tmp_path, capsys)
    partition = checks["latest partition (security_finding)"]
    assert (partition["status"], partition["detail"]) == (
        WARN, f"eventDay={today(-40)} is the newest of 1 partitions (today is {today()})"
    )

    glue.delete_table(DatabaseName=DATABASE, Name=TABLE)
    security_lake_stub.add_response("list_log_sources", log_sources(), {"regions": [REGION]})
    code, checks = doctor_lake(tmp_path, capsys)
    table = checks["glue table (security_finding)"]
    assert code == 1 and table["status"] == FAIL
    assert table["detail"] == (f"{DATABASE}.{TABLE} does not exist: the crawler makes it on its first run after "
                               "objects arrive")
    assert checks["latest partition (security_finding)"]["status"] == SKIP


def test_glue_denied_is_explained(aws, security_lake_stub, last_crawl, tmp_path, capsys, monkeypatch):
    weak = aws.create_user("no-glue", allow(["iam:GetRole", "glue:GetCrawler"], "*"))
    for key, value in aws.environment(weak, "iam", "glue").items():
        monkeypatch.setenv(key, value)
    security_lake_stub.add_response("list_log_sources", log_sources(), {"regions": [REGION]})
    code, checks = doctor_lake(tmp_path, capsys)
    table = checks["glue table (security_finding)"]
    assert code == 1 and table["status"] == FAIL
    assert table["detail"].startswith(f"GetTable {DATABASE}.{TABLE}: ")
    assert "is not authorized to perform: glue:GetTable" in table["detail"]
    assert table["fix"] == "the identity needs glue:GetTable, and Lake Formation DESCRIBE on the table"


def test_both_classes_are_checked_each_against_its_own_source(aws, security_lake_stub, last_crawl, tmp_path, capsys):
    security_lake_stub.add_response("list_log_sources", log_sources(), {"regions": [REGION]})
    code, checks = doctor_lake(tmp_path, capsys, WAZUH_OCSF_DETECTION_FINDING_SOURCE="wazuhdet")
    assert code == 1
    assert checks["custom source (detection_finding)"]["detail"].startswith("no custom source named wazuhdet")
    assert checks["glue table (security_finding)"]["status"] == OK


def test_the_lake_names_security_lake_gives_a_custom_source():
    assert lake_checks.glue_database("eu-west-2") == "amazon_security_lake_glue_db_eu_west_2"
    assert lake_checks.glue_table("eu-west-2", "TestCustom") == "amazon_security_lake_table_eu_west_2_ext_testcustom"
    settings = load_settings(environ={"WAZUH_OCSF_REGION": "eu-west-1", "WAZUH_OCSF_SECURITY_FINDING_LOCATION":
                                      "s3://b/ext/wazuh/1.0/", "WAZUH_OCSF_CONFIG": "/nonexistent"})
    ctx = Context(Layout(), settings=settings)
    assert [(s.name, s.prefix) for s in lake_checks._sources(ctx)] == [("wazuh", "ext/wazuh/1.0/")]


def test_a_provider_role_without_external_id_warns(aws, security_lake_stub, last_crawl, tmp_path, capsys):
    aws.client("iam").update_assume_role_policy(RoleName=PROVIDER, PolicyDocument=policy({
        "Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole",
    }))
    security_lake_stub.add_response("list_log_sources", log_sources(), {"regions": [REGION]})
    code, checks = doctor_lake(tmp_path, capsys)
    trust = checks["provider role trust (security_finding)"]
    assert code == 0 and trust["status"] == WARN
    assert trust["detail"] == (f"{PROVIDER_ARN} trusts {ACCOUNT_ID} without an external id: any identity there "
                               "allowed sts:AssumeRole may write to the source")
