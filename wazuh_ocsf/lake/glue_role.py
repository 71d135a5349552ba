"""The IAM role Security Lake's Glue crawler runs as for one custom source, least privilege.

``CreateCustomLogSource`` needs a role the source's Glue crawler assumes to read the
source's objects and write the table. :func:`role_requests` lists the IAM requests that make
it (the same list ``--dry-run`` prints and :func:`ensure_role` sends), for one source:

* trust: ``glue.amazonaws.com`` may ``sts:AssumeRole``, nothing else;
* the AWS managed policy ``service-role/AWSGlueServiceRole`` (Data Catalog and crawler logs);
* an inline policy: ``s3:ListBucket`` of the lake bucket limited to the source's prefix
  ``ext/<source>/``, ``s3:GetObject`` under it, and ``kms:Decrypt`` on the lake's key when the
  lake uses a customer managed key. No write to S3, no other prefix.

One role per custom source (and so per OCSF class: Security Lake takes one class per
source), named after the source and region. An existing role of that name is reused when its
trust policy lets Glue assume it; its policies are then brought up to date (both calls are
idempotent). A role that trusts anything else is refused, not changed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from wazuh_ocsf.lake.custom_source import SecurityLakeError

log = logging.getLogger(__name__)

GLUE_SERVICE = "glue.amazonaws.com"
POLICY_VERSION = "2012-10-17"
MANAGED_POLICY = "service-role/AWSGlueServiceRole"
S3_MANAGED_KEY = "S3_MANAGED_KEY"  # ListDataLakes' kmsKeyId when the lake has no customer key


class GlueRoleError(SecurityLakeError):
    """The crawler role cannot be created or reused; the message says why and what to do."""


@dataclass(frozen=True)
class Request:
    """One AWS API request: the service, the operation's API name and its parameters."""

    service: str
    operation: str
    params: dict

    def to_dict(self) -> dict:
        """The request for printing: policy documents as JSON objects, not strings."""
        params = {
            key: json.loads(value) if key.endswith("PolicyDocument") else value
            for key, value in self.params.items()
        }
        return {"service": self.service, "operation": self.operation, "params": params}


@dataclass(frozen=True)
class RoleSpec:
    """What the crawler role of one custom source is: its name and what it may read."""

    role_name: str
    source_name: str
    region: str
    bucket: str
    kms_key_arn: str | None = None

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @property
    def prefix(self) -> str:
        return f"ext/{self.source_name}/"

    @property
    def policy_name(self) -> str:
        return f"wazuh-ocsf-crawler-read-{self.source_name}"


def partition_of(region: str) -> str:
    """The ARN partition of a region: ``aws``, ``aws-cn`` or ``aws-us-gov``."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def default_role_name(source_name: str, region: str) -> str:
    """``wazuh-ocsf-glue-<source>-<region>``: one role per source and region (IAM names are global)."""
    return f"wazuh-ocsf-glue-{source_name}-{region}"  # at most 51 of IAM's 64 characters


def kms_key_arn(kms_key_id: str | None, *, region: str, account: str) -> str | None:
    """The key ARN for a lake's ``kmsKeyId`` (an ARN, a key id or an alias); None for S3's own key."""
    if not kms_key_id or kms_key_id == S3_MANAGED_KEY:
        return None
    if kms_key_id.startswith("arn:"):
        return kms_key_id
    kind = "" if kms_key_id.startswith("alias/") else "key/"
    return f"arn:{partition_of(region)}:kms:{region}:{account}:{kind}{kms_key_id}"


def trust_policy() -> dict:
    """Only the Glue service may assume the role."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": GLUE_SERVICE}, "Action": "sts:AssumeRole"}
        ],
    }


def read_policy(spec: RoleSpec) -> dict:
    """List and read the source's own prefix; decrypt with the lake's key when it has one."""
    bucket_arn = f"arn:{spec.partition}:s3:::{spec.bucket}"
    statements = [
        {
            "Sid": "ListTheSourcePrefix",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [spec.prefix, spec.prefix + "*"]}},
        },
        {
            "Sid": "ReadTheSourceObjects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{bucket_arn}/{spec.prefix}*",
        },
    ]
    if spec.kms_key_arn:
        statements.append(
            {"Sid": "DecryptWithTheLakeKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": spec.kms_key_arn}
        )
    return {"Version": POLICY_VERSION, "Statement": statements}


def role_arn(spec: RoleSpec, account: str) -> str:
    """The role's ARN in ``account``."""
    return f"arn:{spec.partition}:iam::{account}:role/{spec.role_name}"


def role_requests(spec: RoleSpec) -> list:
    """The IAM requests that make the role: CreateRole, AttachRolePolicy, PutRolePolicy."""
    return [
        Request("iam", "CreateRole", {
            "RoleName": spec.role_name,
            "AssumeRolePolicyDocument": json.dumps(trust_policy()),
            "Description": f"AWS Glue crawler of the Security Lake custom source {spec.source_name} "
            f"({spec.region}); created by wazuh-ocsf",
            "Tags": [{"Key": "created-by", "Value": "wazuh-ocsf"}, {"Key": "security-lake-source",
                                                                   "Value": spec.source_name}],
        }),
        Request("iam", "AttachRolePolicy", {
            "RoleName": spec.role_name, "PolicyArn": f"arn:{spec.partition}:iam::aws:policy/{MANAGED_POLICY}",
        }),
        Request("iam", "PutRolePolicy", {
            "RoleName": spec.role_name, "PolicyName": spec.policy_name, "PolicyDocument": json.dumps(read_policy(spec)),
        }),
    ]


def assume_role_statements(document) -> list:
    """The statements of a trust policy (dict, or JSON text as IAM may return it) that allow sts:AssumeRole.

    Each as ``(principal, condition)``, ``principal`` with every value a list.
    """
    if isinstance(document, str):
        from urllib.parse import unquote

        document = json.loads(unquote(document))
    statements = document.get("Statement", [])
    found = []
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") != "Allow" or not {"sts:AssumeRole", "sts:*"} & set(actions):
            continue
        principal = statement.get("Principal") or {}
        principal = {kind: [v] if isinstance(v, str) else list(v) for kind, v in principal.items()}
        found.append((principal, statement.get("Condition") or {}))
    return found


def trusts_glue(document) -> bool:
    """Whether a trust policy lets ``glue.amazonaws.com`` assume the role."""
    return any(GLUE_SERVICE in principal.get("Service", []) for principal, _ in assume_role_statements(document))


def ensure_role(iam, spec: RoleSpec) -> tuple:
    """Create the role, or reuse it when it exists and trusts Glue; ``(role ARN, "created" | "reused")``.

    Either way its managed and inline policies are (re)applied. Raises GlueRoleError when
    the role exists with another trust, or IAM refuses a request.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    create, *policies = role_requests(spec)
    try:
        try:
            role = iam.get_role(RoleName=spec.role_name)["Role"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
                raise
            role = None
        if role is not None and not trusts_glue(role.get("AssumeRolePolicyDocument", {})):
            raise GlueRoleError(
                f"IAM role {spec.role_name} exists but its trust policy does not let {GLUE_SERVICE} assume it; "
                "name another role with --create-glue-role NAME, or fix its trust policy"
            )
        outcome = "reused" if role is not None else "created"
        if role is None:
            role = iam.create_role(**create.params)["Role"]
        for request in policies:
            getattr(iam, _method(request.operation))(**request.params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise GlueRoleError(
            f"IAM role {spec.role_name}: {error.get('Code', '')}: {error.get('Message', '') or exc}; the caller needs "
            "iam:GetRole, iam:CreateRole, iam:AttachRolePolicy, iam:PutRolePolicy and iam:TagRole on it"
        ) from None
    except BotoCoreError as exc:
        raise GlueRoleError(f"IAM role {spec.role_name}: {exc}") from None
    log.info("%s the Glue crawler role %s", outcome, role["Arn"])
    return role["Arn"], outcome


def _method(operation: str) -> str:
    """``PutRolePolicy`` → ``put_role_policy``."""
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")
