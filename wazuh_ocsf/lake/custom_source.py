"""Register wazuh-ocsf as an Amazon Security Lake custom source (``CreateCustomLogSource``).

Security Lake creates the source's S3 location, the provider role that may write there
(trusting ``principal`` with ``external_id``), a Glue crawler (run by ``crawler_role_arn``)
and its table. The reply's ``provider.roleArn`` and ``provider.location`` are what the
flusher needs; :func:`create_custom_source` returns them with the settings to write.
"""

from __future__ import annotations

import logging

from wazuh_ocsf.config import CLASS_NAMES
from wazuh_ocsf.errors import WazuhOcsfError

log = logging.getLogger(__name__)

#: OCSF class → Security Lake's ``eventClasses`` value: the OCSF class name in capitals.
EVENT_CLASSES = {class_uid: name.upper() for class_uid, name in CLASS_NAMES.items()}


class SecurityLakeError(WazuhOcsfError):
    """Security Lake refused or failed a request; the message says which and why."""

    code = ""  # the service's error code, when it gave one


def make_client(region: str, endpoint_url: str | None = None):
    """A ``securitylake`` client on the default credential chain."""
    import boto3
    from botocore.config import Config

    return boto3.Session(region_name=region).client(
        "securitylake", region_name=region, endpoint_url=endpoint_url, config=Config(retries={"mode": "standard"})
    )


def request_for(
    *, source_name: str, class_uid: int, crawler_role_arn: str, principal: str, external_id: str,
    source_version: str | None = None,
) -> dict:
    """The ``CreateCustomLogSource`` parameters for one OCSF class."""
    params = {
        "sourceName": source_name,
        "eventClasses": [EVENT_CLASSES[class_uid]],
        "configuration": {
            "crawlerConfiguration": {"roleArn": crawler_role_arn},
            "providerIdentity": {"principal": principal, "externalId": external_id},
        },
    }
    if source_version:
        params["sourceVersion"] = source_version
    return params


def create_custom_source(client, params: dict) -> dict:
    """Call ``CreateCustomLogSource``; ``{"role_arn", "location", "bucket", "source_name"}`` of the reply.

    Raises SecurityLakeError naming the source and the reason (conflict, access, validation).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    name = params["sourceName"]
    try:
        reply = client.create_custom_log_source(**params)
    except ClientError as exc:
        code, message = _error(exc)
        advice = {
            "ConflictException": f"a custom source named {name} exists already: choose another --source-name, or "
            "copy its provider role ARN and location into the config by hand",
            "AccessDeniedException": "the caller needs securitylake:CreateCustomLogSource (and the IAM/Glue/S3 "
            "permissions it implies) and must be the Security Lake delegated administrator",
            "ResourceNotFoundException": "is Security Lake enabled in this region and account?",
        }.get(code, "check the values against Security Lake's rules")
        failure = SecurityLakeError(f"CreateCustomLogSource {name} failed: {code}: {message}; {advice}")
        failure.code = code
        raise failure from None
    except BotoCoreError as exc:
        raise SecurityLakeError(f"CreateCustomLogSource {name} failed: {exc}") from None
    provider = reply.get("source", {}).get("provider", {})
    role_arn, location = provider.get("roleArn"), provider.get("location")
    if not role_arn or not location:
        raise SecurityLakeError(f"CreateCustomLogSource {name}: the reply has no provider role or location: {reply}")
    log.info("created Security Lake custom source %s: %s, role %s", name, location, role_arn)
    bucket = location.split("://", 1)[-1].split("/", 1)[0]
    return {"role_arn": role_arn, "location": location, "bucket": bucket, "source_name": name}


#: Codes CreateCustomLogSource answers while a just-created crawler role is not yet visible to it.
FRESH_ROLE_CODES = ("ValidationException", "AccessDeniedException")


def create_custom_source_for_new_role(client, params: dict, *, attempts: int = 6, delay: float = 5.0,
                                      sleep=None) -> dict:
    """:func:`create_custom_source`, retried while IAM propagates a crawler role created seconds ago.

    IAM is eventually consistent: a new role can be refused for a few seconds. Only the codes
    in ``FRESH_ROLE_CODES`` are retried, ``attempts`` times in all, ``delay`` seconds apart.
    """
    import time

    sleep = sleep or time.sleep
    for _ in range(attempts - 1):
        try:
            return create_custom_source(client, params)
        except SecurityLakeError as exc:
            if exc.code not in FRESH_ROLE_CODES:
                raise
            log.info("CreateCustomLogSource: %s; the new crawler role may not be visible yet, retrying", exc.code)
            sleep(delay)
    return create_custom_source(client, params)


def settings_to_write(created: dict, class_uid: int, external_id: str, *, finding_class: int) -> dict:
    """The settings (attr → text) that point the flusher at a created source.

    Each source has its own provider role, allowed to write to that source's location only: the
    finding class's is ``ROLE_ARN`` (the default of every class), any other class's
    ``<CLASS>_ROLE_ARN``.
    """
    name = CLASS_NAMES[class_uid]
    return {
        "bucket": created["bucket"],
        f"{name}_source": created["source_name"],
        f"{name}_location": created["location"],
        "role_arn" if class_uid == finding_class else f"{name}_role_arn": created["role_arn"],
        "external_id": external_id,
    }


# -- the lake and its custom sources, read-only ---------------------------------------------------


def data_lake(client, region: str) -> dict:
    """``ListDataLakes`` for one region: ``{"bucket", "kms_key_id", "account"}`` of the lake.

    Raises SecurityLakeError when Security Lake is not enabled there or the call fails.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        lakes = client.list_data_lakes(regions=[region]).get("dataLakes", [])
    except (ClientError, BotoCoreError) as exc:
        raise SecurityLakeError(f"ListDataLakes {region} failed: {': '.join(_error(exc))}") from None
    for lake in lakes:
        if lake.get("region") == region and lake.get("s3BucketArn"):
            return {
                "bucket": lake["s3BucketArn"].rsplit(":", 1)[-1],
                "kms_key_id": (lake.get("encryptionConfiguration") or {}).get("kmsKeyId"),
                "account": lake.get("dataLakeArn", "::::").split(":")[4],
            }
    raise SecurityLakeError(
        f"Security Lake is not enabled in {region} for this account (ListDataLakes returned no lake); "
        "enable it in the Security Lake console, or run this as the delegated administrator"
    )


def custom_sources(client, region: str) -> dict:
    """``ListLogSources`` for one region: source name → its ``customLogSource`` (provider, attributes).

    Raises botocore's errors as they are: the caller explains them.
    """
    found = {}
    params = {"regions": [region]}
    while True:
        reply = client.list_log_sources(**params)
        for entry in reply.get("sources", []):
            if entry.get("region", region) != region:
                continue
            for resource in entry.get("sources", []):
                custom = resource.get("customLogSource")
                if custom and custom.get("sourceName"):
                    found[custom["sourceName"]] = {**custom, "account": entry.get("account")}
        if not reply.get("nextToken"):
            return found
        params["nextToken"] = reply["nextToken"]


def _error(exc: BaseException) -> tuple:
    """``(code, message)`` of a botocore error (a BotoCoreError has no code: its class name)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return str(error.get("Code", "")), str(error.get("Message", "")) or str(exc)
    return type(exc).__name__, str(exc)
