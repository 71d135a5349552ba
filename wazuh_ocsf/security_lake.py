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
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "") or str(exc)
        advice = {
            "ConflictException": f"a custom source named {name} exists already: choose another --source-name, or "
            "copy its provider role ARN and location into the config by hand",
            "AccessDeniedException": "the caller needs securitylake:CreateCustomLogSource (and the IAM/Glue/S3 "
            "permissions it implies) and must be the Security Lake delegated administrator",
            "ResourceNotFoundException": "is Security Lake enabled in this region and account?",
        }.get(code, "check the values against Security Lake's rules")
        raise SecurityLakeError(f"CreateCustomLogSource {name} failed: {code}: {message}; {advice}") from None
    except BotoCoreError as exc:
        raise SecurityLakeError(f"CreateCustomLogSource {name} failed: {exc}") from None
    provider = reply.get("source", {}).get("provider", {})
    role_arn, location = provider.get("roleArn"), provider.get("location")
    if not role_arn or not location:
        raise SecurityLakeError(f"CreateCustomLogSource {name}: the reply has no provider role or location: {reply}")
    log.info("created Security Lake custom source %s: %s, role %s", name, location, role_arn)
    bucket = location.split("://", 1)[-1].split("/", 1)[0]
    return {"role_arn": role_arn, "location": location, "bucket": bucket, "source_name": name}


def settings_to_write(created: dict, class_uid: int, external_id: str) -> dict:
    """The settings (attr → text) that point the flusher at a created source."""
    name = CLASS_NAMES[class_uid]
    return {
        "bucket": created["bucket"],
        f"{name}_source": created["source_name"],
        f"{name}_location": created["location"],
        "role_arn": created["role_arn"],
        "external_id": external_id,
    }
