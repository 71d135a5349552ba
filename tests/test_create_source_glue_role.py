"""``create-source --create-glue-role``: the Glue crawler's role made (or reused) for real, then the source.

IAM and S3 are moto's server with authentication on, reached through boto3's real code path
(``AWS_ENDPOINT_URL_IAM``); AWS's managed policies are loaded so that attaching
``AWSGlueServiceRole`` is checked as IAM checks it. Security Lake (which moto lacks) is a
botocore ``Stubber`` on a real client, validating each request and reply against the model.
"""

from __future__ import annotations

import json
import os

import pytest
from botocore.exceptions import ClientError
from s3_server import ACCOUNT_ID, REGION, LakeServer, allow

from wazuh_ocsf import cli
from wazuh_ocsf.config import load_settings
from wazuh_ocsf.lake import glue_role

BUCKET = "aws-security-data-lake-us-east-1-o2x8a4"
ROLE = f"wazuh-ocsf-glue-wazuh-{REGION}"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE}"
PROVIDER_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/AmazonSecurityLake-Provider-wazuh-{REGION}"
LOCATION = f"s3://{BUCKET}/ext/wazuh/"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
GLUE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture(scope="module")
def iam_lake():
    """moto's server (authentication on) with AWS's managed policies loaded, for AttachRolePolicy."""
    previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    server = LakeServer().start()
    try:
        yield server
    finally:
        # back to moto's default first: close() resets the backends, which re-reads it
        if previous is None:
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous
        server.close()


@pytest.fixture
def aws(iam_lake, monkeypatch):
    """The admin's credentials and moto's endpoints in the environment, as an administrator's shell has them."""
    for key in list(os.environ):
        if key.startswith(("WAZUH_OCSF_", "AWS_")):
            monkeypatch.delenv(key)
    for key, value in iam_lake.environment(iam_lake.admin, "iam", "sts").items():
        monkeypatch.setenv(key, value)
    yield iam_lake
    _detach_managed_policies(iam_lake)
    iam_lake.delete_identities()
    iam_lake.delete_bucket(BUCKET)


def _detach_managed_policies(server) -> None:
    iam = server.client("iam")
    for role in iam.list_roles()["Roles"]:
        for policy in iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=policy["PolicyArn"])


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "wazuh-ocsf.conf"
    path.write_text(f"REGION={REGION}\nACCOUNT_ID={ACCOUNT_ID}\nSOURCE_LOCATION=wazuh\n")
    return path


def data_lakes(kms_key_id: str = "S3_MANAGED_KEY") -> dict:
    """ListDataLakes' reply for a lake in REGION (the shape of the AWS CLI reference's example)."""
    return {
        "dataLakes": [{
            "dataLakeArn": f"arn:aws:securitylake:{REGION}:{ACCOUNT_ID}:data-lake/default",
            "region": REGION,
            "s3BucketArn": f"arn:aws:s3:::{BUCKET}",
            "encryptionConfiguration": {"kmsKeyId": kms_key_id},
            "lifecycleConfiguration": {"expiration": {"days": 365}},
            "createStatus": "COMPLETED",
        }]
    }


def created_reply() -> dict:
    return {
        "source": {
            "sourceName": "wazuh",
            "provider": {"roleArn": PROVIDER_ROLE, "location": LOCATION},
            "attributes": {
                "crawlerArn": f"arn:aws:glue:{REGION}:{ACCOUNT_ID}:crawler/wazuh",
                "databaseArn": f"arn:aws:glue:{REGION}:{ACCOUNT_ID}:database/amazon_security_lake_glue_db_us_east_1",
                "tableArn": f"arn:aws:glue:{REGION}:{ACCOUNT_ID}:table/amazon_security_lake_table_us_east_1_ext_wazuh",
            },
        }
    }


def create_request(crawler_role_arn: str = ROLE_ARN) -> dict:
    return {
        "sourceName": "wazuh",
        "eventClasses": ["SECURITY_FINDING"],
        "configuration": {
            "crawlerConfiguration": {"roleArn": crawler_role_arn},
            "providerIdentity": {"principal": "444455556666", "externalId": "ext-0001"},
        },
    }


def run(config, *extra: str) -> int:
    return cli.main(["--config", str(config), "create-source", "--principal", "444455556666",
                     "--external-id", "ext-0001", *extra])


def test_creates_a_least_privilege_crawler_role_then_the_source(aws, security_lake_stub, config, capsys):
    security_lake_stub.add_response("list_data_lakes", data_lakes(), {"regions": [REGION]})
    security_lake_stub.add_response("create_custom_log_source", created_reply(), create_request())

    assert run(config, "--create-glue-role", "--json") == 0

    out = json.loads(capsys.readouterr().out)
    assert (out["crawler_role_arn"], out["crawler_role"], out["role_arn"]) == (ROLE_ARN, "created", PROVIDER_ROLE)
    iam = aws.client("iam")
    role = iam.get_role(RoleName=ROLE)["Role"]
    assert role["AssumeRolePolicyDocument"] == GLUE_TRUST
    attached = iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/service-role/AWSGlueServiceRole"]
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == ["wazuh-ocsf-crawler-read-wazuh"]
    document = iam.get_role_policy(RoleName=ROLE, PolicyName="wazuh-ocsf-crawler-read-wazuh")["PolicyDocument"]
    assert document == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListTheSourcePrefix",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{BUCKET}",
                "Condition": {"StringLike": {"s3:prefix": ["ext/wazuh/", "ext/wazuh/*"]}},
            },
            {
                "Sid": "ReadTheSourceObjects",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/ext/wazuh/*",
            },
        ],
    }
    settings = load_settings(path=str(config), environ={})
    assert (settings.role_arn, settings.bucket, settings.destination_prefix(2001)) == (
        PROVIDER_ROLE, BUCKET, "ext/wazuh/"
    )


def test_the_read_policy_reads_only_the_sources_prefix(aws):
    """The inline policy, given to an identity, as IAM evaluates it: read ext/wazuh/, nothing else."""
    spec = glue_role.RoleSpec(ROLE, "wazuh", REGION, BUCKET)
    aws.create_bucket(BUCKET)
    s3 = aws.client("s3")
    for key in ("ext/wazuh/region=us-east-1/x.parquet", "ext/other/region=us-east-1/x.parquet"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"PAR1")
    reader = aws.create_user("crawler-like", *glue_role.read_policy(spec)["Statement"][1:])
    client = aws.client("s3", reader)
    assert client.get_object(Bucket=BUCKET, Key="ext/wazuh/region=us-east-1/x.parquet")["Body"].read() == b"PAR1"
    for call in (
        lambda: client.get_object(Bucket=BUCKET, Key="ext/other/region=us-east-1/x.parquet"),
        lambda: client.put_object(Bucket=BUCKET, Key="ext/wazuh/region=us-east-1/y.parquet", Body=b"x"),
        lambda: client.delete_object(Bucket=BUCKET, Key="ext/wazuh/region=us-east-1/x.parquet"),
    ):
        with pytest.raises(ClientError) as denied:
            call()
        assert denied.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.parametrize("kms_key_id", [KEY_ARN, "1234abcd-12ab-34cd-56ef-1234567890ab"])
def test_a_lake_with_a_customer_key_adds_decrypt_on_that_key_only(aws, security_lake_stub, config, capsys, kms_key_id):
    security_lake_stub.add_response("list_data_lakes", data_lakes(kms_key_id), {"regions": [REGION]})
    security_lake_stub.add_response("create_custom_log_source", created_reply(), create_request())

    assert run(config, "--create-glue-role") == 0

    assert f"created the Glue crawler role {ROLE_ARN}" in capsys.readouterr().out
    document = aws.client("iam").get_role_policy(RoleName=ROLE, PolicyName="wazuh-ocsf-crawler-read-wazuh")
    assert document["PolicyDocument"]["Statement"][-1] == {
        "Sid": "DecryptWithTheLakeKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN,
    }


def test_an_existing_role_that_trusts_glue_is_reused_and_its_policies_applied(aws, security_lake_stub, config, capsys):
    iam = aws.client("iam")
    iam.create_role(RoleName="my-crawler", AssumeRolePolicyDocument=json.dumps(GLUE_TRUST), Description="mine")
    security_lake_stub.add_response("list_data_lakes", data_lakes(), {"regions": [REGION]})
    security_lake_stub.add_response("create_custom_log_source", created_reply(),
                         create_request(f"arn:aws:iam::{ACCOUNT_ID}:role/my-crawler"))

    assert run(config, "--create-glue-role", "my-crawler") == 0

    assert f"reused the Glue crawler role arn:aws:iam::{ACCOUNT_ID}:role/my-crawler" in capsys.readouterr().out
    role = iam.get_role(RoleName="my-crawler")["Role"]
    assert role["Description"] == "mine"  # not re-created
    assert iam.list_role_policies(RoleName="my-crawler")["PolicyNames"] == ["wazuh-ocsf-crawler-read-wazuh"]
    assert len(iam.list_attached_role_policies(RoleName="my-crawler")["AttachedPolicies"]) == 1


def test_an_existing_role_with_another_trust_is_refused_untouched(aws, security_lake_stub, config, capsys):
    iam = aws.client("iam")
    ec2 = {**GLUE_TRUST["Statement"][0], "Principal": {"Service": "ec2.amazonaws.com"}}
    ec2_trust = {**GLUE_TRUST, "Statement": [ec2]}
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(ec2_trust))
    security_lake_stub.add_response("list_data_lakes", data_lakes(), {"regions": [REGION]})
    before = config.read_text()

    assert run(config, "--create-glue-role") == 1

    err = capsys.readouterr().err
    assert err.startswith(f"ERROR: IAM role {ROLE} exists but its trust policy does not let glue.amazonaws.com")
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == []
    assert config.read_text() == before


def test_iam_refusing_is_explained(aws, security_lake_stub, config, capsys, monkeypatch):
    weak = aws.create_user("no-iam", allow("iam:GetRole", "*"))
    for key, value in aws.environment(weak, "iam", "sts").items():
        monkeypatch.setenv(key, value)
    security_lake_stub.add_response("list_data_lakes", data_lakes(), {"regions": [REGION]})

    assert run(config, "--create-glue-role") == 1

    err = capsys.readouterr().err
    assert err.startswith(f"ERROR: IAM role {ROLE}: AccessDenied: ")
    assert "iam:CreateRole" in err


def test_a_new_role_not_yet_visible_to_security_lake_is_retried(aws, security_lake_stub, config, monkeypatch):
    waits = []
    monkeypatch.setattr("time.sleep", waits.append)
    security_lake_stub.add_response("list_data_lakes", data_lakes(), {"regions": [REGION]})
    security_lake_stub.add_client_error("create_custom_log_source", service_error_code="ValidationException",
                             service_message="The role cannot be assumed by Glue", http_status_code=400)
    security_lake_stub.add_response("create_custom_log_source", created_reply(), create_request())

    assert run(config, "--create-glue-role") == 0
    assert waits == [5.0]


def test_dry_run_prints_every_request_and_sends_nothing(aws, security_lake_stub, config, capsys):
    # The stubber has no response queued and the principal is not given: any request would fail.
    code = cli.main(["--config", str(config), "create-source", "--create-glue-role", "--external-id", "secret-9",
                     "--dry-run"])
    assert code == 0
    out = capsys.readouterr().out
    printed = json.loads(out)
    assert [(r["service"], r["operation"]) for r in printed["requests"]] == [
        ("securitylake", "ListDataLakes"),
        ("iam", "GetRole"),
        ("iam", "CreateRole"),
        ("iam", "AttachRolePolicy"),
        ("iam", "PutRolePolicy"),
        ("securitylake", "CreateCustomLogSource"),
    ]
    requests = {r["operation"]: r["params"] for r in printed["requests"]}
    assert requests["CreateRole"]["AssumeRolePolicyDocument"] == GLUE_TRUST
    assert requests["PutRolePolicy"]["PolicyDocument"]["Version"] == "2012-10-17"
    assert requests["PutRolePolicy"]["PolicyDocument"]["Statement"][1]["Resource"] == (
        f"arn:aws:s3:::aws-security-data-lake-{REGION}-<id from ListDataLakes>/ext/wazuh/*"
    )
    create = requests["CreateCustomLogSource"]
    assert create["configuration"]["crawlerConfiguration"]["roleArn"] == (
        f"arn:aws:iam::<the caller's account>:role/{ROLE}"
    )
    assert create["configuration"]["providerIdentity"] == {"principal": "<the caller's account>", "externalId": "****"}
    assert "secret-9" not in out
    assert [r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]] == []


def test_trust_policies_are_read_in_every_shape_iam_allows():
    from urllib.parse import quote

    services = {"Service": ["ec2.amazonaws.com", "glue.amazonaws.com"]}
    actions = ["sts:AssumeRole", "sts:TagSession"]
    glue_list = {"Statement": [{"Effect": "Allow", "Principal": services, "Action": actions}]}
    assert glue_role.trusts_glue(glue_list)
    assert glue_role.trusts_glue(quote(json.dumps(GLUE_TRUST)))  # IAM's URL-encoded text
    assert glue_role.trusts_glue({"Statement": {**GLUE_TRUST["Statement"][0], "Action": "sts:*"}})
    assert not glue_role.trusts_glue({"Statement": [{**GLUE_TRUST["Statement"][0], "Effect": "Deny"}]})
    assert not glue_role.trusts_glue({"Statement": [{**GLUE_TRUST["Statement"][0], "Action": "sts:TagSession"}]})
    assert glue_role.assume_role_statements({"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "x"}},
    }]}) == [({"AWS": ["arn:aws:iam::111122223333:root"]}, {"StringEquals": {"sts:ExternalId": "x"}})]


def test_no_lake_in_the_region_or_no_permission_is_explained(aws, security_lake_stub, config, capsys):
    security_lake_stub.add_response("list_data_lakes", {"dataLakes": []}, {"regions": [REGION]})
    assert run(config, "--create-glue-role") == 1
    assert capsys.readouterr().err.startswith(
        f"ERROR: Security Lake is not enabled in {REGION} for this account (ListDataLakes returned no lake)"
    )
    security_lake_stub.add_client_error("list_data_lakes", service_error_code="AccessDeniedException",
                                        service_message="denied", http_status_code=403)
    assert run(config, "--create-glue-role") == 1
    assert capsys.readouterr().err == f"ERROR: ListDataLakes {REGION} failed: AccessDeniedException: denied\n"
    assert aws.client("iam").list_roles()["Roles"] == []
