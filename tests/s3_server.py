"""A real S3 + STS + IAM endpoint on 127.0.0.1 for tests: moto's server mode with IAM auth ON.

moto's ``ThreadedMotoServer`` serves every AWS API over real HTTP; boto3 takes its real code
path (signing, retries, checksums, multipart). Authentication is on from the first request
(``INITIAL_NO_AUTH_ACTION_COUNT``), except for exactly the three IAM calls that create the
admin user, so every later request must be signed by a known identity and allowed by its
policies. Tests then create a writer whose policy allows only what the sink may use: a sink
that needs more (ListBucket, HeadObject, GetObject, …) fails its tests.

moto does not evaluate the provider role's ``sts:ExternalId`` condition when the parameter is
absent, so tests check the AssumeRole request themselves (``before-send`` handlers).

Used through the module-scoped ``lake`` fixture of ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import logging
import os

import boto3
import requests

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
_BOOTSTRAP_CALLS = 3  # CreateUser, PutUserPolicy, CreateAccessKey for the admin


def policy(*statements: dict) -> str:
    """An IAM policy document (version 2012-10-17) from statements."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions, resources) -> dict:
    """One Allow statement."""
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


class LakeServer:
    """moto on 127.0.0.1 with authentication on, an admin identity and helpers to set up a lake.

    ``stop()`` closes the listening socket (connections are refused, as with a dead endpoint);
    ``start()`` again listens on the same port with the same state.
    """

    def __init__(self) -> None:
        self._moto = None
        self.port = 0
        self.admin: boto3.Session | None = None
        self._previous_env = os.environ.get("INITIAL_NO_AUTH_ACTION_COUNT")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LakeServer:
        """Start listening (on a free port the first time, on the same port afterwards)."""
        from moto.server import ThreadedMotoServer

        first = self.admin is None
        if first:
            os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._moto.start()
        self.port = self._moto.get_host_and_port()[1]
        if first:
            self._bootstrap()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket, so clients get "connection refused"."""
        if self._moto is not None:
            self._moto.stop()
            # ThreadedMotoServer.stop() leaves the socket listening: connections would hang.
            self._moto._server.server_close()
            self._moto = None

    def close(self) -> None:
        """Stop, forget every user/bucket, and turn authentication off again for other tests."""
        if self._moto is None:
            self.start()
        requests.post(self.url + "/moto-api/reset-auth", data=b"inf", timeout=10)
        requests.post(self.url + "/moto-api/reset", timeout=10)
        self.stop()
        if self._previous_env is None:
            os.environ.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        else:
            os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = self._previous_env

    def _bootstrap(self) -> None:
        # moto reads INITIAL_NO_AUTH_ACTION_COUNT once, at import; reset-auth sets it whatever
        # imported moto first, and lets exactly the admin's three bootstrap calls through.
        requests.post(self.url + "/moto-api/reset", timeout=10)
        reply = requests.post(self.url + "/moto-api/reset-auth", data=str(_BOOTSTRAP_CALLS).encode(), timeout=10)
        reply.raise_for_status()
        anonymous = boto3.client(
            "iam", endpoint_url=self.url, region_name=REGION, aws_access_key_id="bootstrap", aws_secret_access_key="x"
        )
        anonymous.create_user(UserName="admin")
        anonymous.put_user_policy(UserName="admin", PolicyName="admin", PolicyDocument=policy(allow("*", "*")))
        key = anonymous.create_access_key(UserName="admin")["AccessKey"]
        self.admin = boto3.Session(
            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION
        )

    def environment(self, session: boto3.Session, *services: str) -> dict:
        """Variables that point boto3's default chain at this server as ``session``'s identity.

        ``AWS_ENDPOINT_URL_<SERVICE>`` for each of ``services``; no config or credentials file.
        """
        keys = session.get_credentials()
        env = {
            "AWS_ACCESS_KEY_ID": keys.access_key,
            "AWS_SECRET_ACCESS_KEY": keys.secret_key,
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }
        env.update({f"AWS_ENDPOINT_URL_{service.upper()}": self.url for service in services})
        return env

    def client(self, service: str, session: boto3.Session | None = None):
        """A client for this server, signed by ``session`` (default: the admin)."""
        return (session or self.admin).client(service, endpoint_url=self.url, region_name=REGION)

    # -- lake setup ----------------------------------------------------------------------------

    def create_bucket(self, bucket: str) -> None:
        self.client("s3").create_bucket(Bucket=bucket)

    def delete_bucket(self, bucket: str) -> None:
        """Empty and delete a bucket (no error when it does not exist)."""
        s3 = self.client("s3")
        try:
            for key in self.keys(bucket):
                s3.delete_object(Bucket=bucket, Key=key)
            s3.delete_bucket(Bucket=bucket)
        except s3.exceptions.NoSuchBucket:
            pass

    def keys(self, bucket: str) -> list[str]:
        """Every key in the bucket, sorted (read as the admin)."""
        pages = self.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def get(self, bucket: str, key: str) -> dict:
        """GetObject as the admin (body read into ``Body``)."""
        reply = self.client("s3").get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        reply["Body"] = reply["Body"].read()
        return reply

    def create_user(self, name: str, *statements: dict) -> boto3.Session:
        """An IAM user with an inline policy of ``statements``; returns a session with its keys."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        if statements:
            iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=policy(*statements))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return boto3.Session(
            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION
        )

    def create_provider_role(self, name: str, *, trusted_user: str, external_id: str, statements: list) -> str:
        """A custom-source provider role: trusts ``trusted_user`` with the external id; returns its ARN."""
        trust = policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:user/{trusted_user}"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        )
        iam = self.client("iam")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=policy(*statements))
        return arn

    def create_lake(self, bucket: str, *, prefixes, external_id: str) -> tuple:
        """A Security Lake as a custom source provider meets it; returns (writer session, role ARN).

        The bucket; the provider role, allowed only ``s3:PutObject`` and
        ``s3:AbortMultipartUpload`` under ``prefixes`` and trusting the writer with the
        external id; the writer user, allowed only ``sts:AssumeRole``.
        """
        self.create_bucket(bucket)
        session = self.create_user("wazuh-writer", allow("sts:AssumeRole", "*"))
        role_arn = self.create_provider_role(
            "AmazonSecurityLake-Provider-wazuh-us-east-1",
            trusted_user="wazuh-writer",
            external_id=external_id,
            statements=[
                allow(
                    ["s3:PutObject", "s3:AbortMultipartUpload"],
                    [f"arn:aws:s3:::{bucket}/{prefix}*" for prefix in prefixes],
                )
            ],
        )
        return session, role_arn

    def delete_identities(self) -> None:
        """Remove every user (except the admin) and role, with their policies and keys."""
        iam = self.client("iam")
        for user in iam.list_users()["Users"]:
            name = user["UserName"]
            if name == "admin":
                continue
            for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
                iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
            for pol in iam.list_user_policies(UserName=name)["PolicyNames"]:
                iam.delete_user_policy(UserName=name, PolicyName=pol)
            iam.delete_user(UserName=name)
        for role in iam.list_roles()["Roles"]:
            name = role["RoleName"]
            for pol in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                iam.delete_role_policy(RoleName=name, PolicyName=pol)
            iam.delete_role(RoleName=name)
