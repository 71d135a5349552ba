"""Amazon Security Lake's S3 bucket as a sink: what a custom source provider writes, and how.

Each object goes to ``<source location>region=<r>/accountId=<a>/eventDay=<YYYYMMDD>/<name>``
(:func:`~wazuh_ocsf.sinks.base.object_key`). Credentials come from the default chain
(instance role, environment, profile), or from the custom source's provider role assumed with
its external id; the assumed-role credentials refresh themselves before they expire, so a long
flush never runs on stale keys. The writer needs ``s3:PutObject`` on the location and nothing
else (``s3:AbortMultipartUpload`` only lets a failed multipart upload clean up after itself):
no listing, no reading, no HEAD requests.

Every PUT carries a SHA-256 checksum (per part for multipart uploads). An encryption header is
sent only when configured, so the lake bucket's default encryption applies otherwise. botocore
retries each request in its standard mode; on top of that a whole object is retried a bounded
number of times after a named transient error (connection, throttling, 5xx). Any other failure
raises :class:`~wazuh_ocsf.errors.SinkError` naming the bucket, key and reason, and the
flusher keeps the segment.

boto3 is imported here only: the hook never imports this module.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, DeferredRefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from s3transfer.manager import TransferConfig, TransferManager

from wazuh_ocsf import __version__
from wazuh_ocsf.config import CLASS_NAMES, Settings
from wazuh_ocsf.errors import SinkError
from wazuh_ocsf.sinks.base import ParquetObject, Sink, object_key

log = logging.getLogger(__name__)

#: Seconds the assumed-role credentials live; botocore refreshes them 15 minutes before the end.
ASSUME_ROLE_SECONDS = 3600
CHECKSUM_ALGORITHM = "SHA256"

_TRANSIENT_EXCEPTIONS = (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "IDPCommunicationError",
    }
)
_CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
        "InvalidToken",
        "UnrecognizedClientException",
    }
)
_EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"})
_SESSION_NAME_BAD = re.compile(r"[^\w+=,.@-]")


class _FixedCredentialProvider(CredentialProvider):
    """Hands botocore one credentials object (the self-refreshing assumed-role credentials)."""

    METHOD = "wazuh-ocsf-assume-role"
    CANONICAL_NAME = "wazuh-ocsf-assume-role"

    def __init__(self, credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self):
        return self._credentials


class S3Sink(Sink):
    """Deliver Parquet objects to an S3 bucket (Security Lake's) under each class's source location.

    ``session`` is the boto3 session whose credentials sign the requests, or assume the role
    when ``role_arn`` is set (default: a new session on the default credential chain).
    ``retry_delay`` is the first pause before retrying an object after a transient error; it
    doubles with each attempt.
    """

    name = "s3"

    def __init__(self, settings: Settings, *, session: boto3.Session | None = None, retry_delay: float = 2.0) -> None:
        if not settings.bucket:
            raise SinkError("the S3 sink needs a bucket: set WAZUH_OCSF_BUCKET (AWS_BUCKET)")
        self._settings = settings
        self._bucket = settings.bucket
        self._source_session = session
        self._retry_delay = retry_delay
        self._attempts = 1 + settings.s3_retries
        self._extra_args = {"ChecksumAlgorithm": CHECKSUM_ALGORITHM}
        if settings.sse == "aes256":
            self._extra_args["ServerSideEncryption"] = "AES256"
        elif settings.sse == "aws:kms":
            self._extra_args["ServerSideEncryption"] = "aws:kms"
            self._extra_args["SSEKMSKeyId"] = settings.sse_kms_key_id
        self._transfer_config = TransferConfig(
            multipart_threshold=settings.s3_multipart_threshold,
            multipart_chunksize=settings.s3_multipart_threshold,
            max_request_concurrency=4,
        )
        self._client_config = Config(
            retries={"mode": "standard"},
            connect_timeout=settings.s3_connect_timeout,
            read_timeout=settings.s3_read_timeout,
            user_agent_extra=f"wazuh-ocsf/{__version__}",
            # S3-compatible stores rarely resolve <bucket>.<host>; path style works everywhere there.
            s3={"addressing_style": "path"} if settings.s3_endpoint_url else None,
        )
        self._sts = None
        self._credentials: dict = {}  # role ARN (None: no role) → credentials
        self._clients: dict = {}  # role ARN (None: no role) → S3 client

    # -- clients -------------------------------------------------------------------------------

    def _source(self) -> boto3.Session:
        if self._source_session is None:
            self._source_session = boto3.Session(region_name=self._settings.region)
        return self._source_session

    @property
    def sts_client(self):
        """The STS client that assumes the provider roles (None when no class has a role)."""
        if self._sts is None and any(self._settings.destination_roles()):
            self._sts = self._source().client(
                "sts",
                region_name=self._settings.region,
                endpoint_url=self._settings.sts_endpoint_url,
                config=self._client_config,
            )
        return self._sts

    @property
    def credentials(self):
        """The credentials that sign the PUTs of the default role (``ROLE_ARN``): see :meth:`credentials_for`."""
        return self.credentials_for(self._settings.role_arn)

    def credentials_for(self, role_arn: str | None):
        """Refreshable credentials of ``role_arn`` assumed with the external id; the source's for None."""
        if role_arn not in self._credentials:
            if role_arn:
                self._credentials[role_arn] = DeferredRefreshableCredentials(
                    refresh_using=lambda: self._assume_role(role_arn), method=_FixedCredentialProvider.METHOD
                )
            else:
                self._credentials[role_arn] = self._source().get_credentials()
        return self._credentials[role_arn]

    @property
    def s3_client(self):
        """The S3 client of the default role (``ROLE_ARN``): see :meth:`client_for`."""
        return self.client_for(self._settings.role_arn)

    def client_for(self, role_arn: str | None):
        """The S3 client whose PUTs ``role_arn`` signs (the source's credentials for None), built on first use."""
        if role_arn not in self._clients:
            if role_arn:
                core = botocore.session.get_session()
                resolver = core.get_component("credential_provider")
                resolver.insert_before("env", _FixedCredentialProvider(self.credentials_for(role_arn)))
                session = boto3.Session(botocore_session=core, region_name=self._settings.region)
            else:
                session = self._source()
            self._clients[role_arn] = session.client(
                "s3",
                region_name=self._settings.region,
                endpoint_url=self._settings.s3_endpoint_url,
                config=self._client_config,
            )
        return self._clients[role_arn]

    def _assume_role(self, role_arn: str) -> dict:
        """Assume a provider role with the external id; botocore calls this again before expiry."""
        params = {
            "RoleArn": role_arn,
            "RoleSessionName": _session_name(self._settings.node_name),
            "DurationSeconds": ASSUME_ROLE_SECONDS,
        }
        if self._settings.external_id:
            params["ExternalId"] = self._settings.external_id
        log.info("Assuming role %s", role_arn)
        response = self.sts_client.assume_role(**params)
        creds = response["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    # -- delivery ------------------------------------------------------------------------------

    def describe(self) -> str:
        """``s3://bucket/prefix`` for each class with a destination, plus endpoint and role."""
        settings = self._settings
        classes = [c for c in sorted(CLASS_NAMES) if settings.has_destination(c)]
        roles = settings.destination_roles()
        places = []
        for class_uid in classes:
            place = f"s3://{self._bucket}/{settings.destination_prefix(class_uid)}"
            role = settings.destination_role(class_uid)
            places.append(f"{place} as {role}" if role and len(roles) > 1 else place)
        text = ", ".join(places) or f"s3://{self._bucket}/"
        if settings.s3_endpoint_url:
            text += f" at {settings.s3_endpoint_url}"
        if len(roles) == 1 and roles[0]:
            text += f" as {roles[0]}"
        return text

    def deliver(self, objects: Sequence[ParquetObject]) -> None:
        """Upload every object (multipart when large), or raise SinkError naming bucket, key, reason."""
        by_role: dict = {}  # each class's objects go through the client of its source's provider role
        for obj in objects:
            role = self._settings.destination_role(obj.class_uid)
            by_role.setdefault(role, []).append((obj, object_key(self._settings, obj)))
        for role, keyed in by_role.items():
            try:
                client = self.client_for(role)
            except BotoCoreError as exc:  # e.g. AWS_PROFILE names a profile that does not exist
                raise SinkError(f"Cannot set up the S3 client for s3://{self._bucket}/: {exc}") from exc
            # Interrupted (the flush deadline, ^C) or failed, the manager cancels what is queued on
            # exit; a request already waiting for S3 ends within WAZUH_OCSF_S3_READ_TIMEOUT.
            with TransferManager(client, self._transfer_config) as manager:
                for obj, key in keyed:
                    self._upload(manager, obj, key, role)

    def _upload(self, manager: TransferManager, obj: ParquetObject, key: str, role: str | None) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                manager.upload(str(obj.path), self._bucket, key, extra_args=dict(self._extra_args)).result()
            except (ClientError, BotoCoreError, OSError) as exc:
                transient = _is_transient(exc)
                if not transient or attempt == self._attempts:
                    tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise SinkError(
                        f"Failed to upload {obj.path} to s3://{self._bucket}/{key}{tries}: "
                        + self._reason(exc, key, role)
                    ) from exc
                delay = self._retry_delay * 2 ** (attempt - 1)
                log.warning(
                    "Upload to s3://%s/%s failed (attempt %d of %d): %s; retrying in %.1fs",
                    self._bucket,
                    key,
                    attempt,
                    self._attempts,
                    exc,
                    delay,
                )
                time.sleep(delay)
            else:
                log.info(
                    "Uploaded %s (%d rows, %d bytes) to s3://%s/%s", obj.name, obj.rows, obj.size, self._bucket, key
                )
                return

    def _reason(self, exc: BaseException, key: str, role: str | None) -> str:
        """The failure in words, with what to do about it."""
        settings = self._settings
        if isinstance(exc, NoCredentialsError):
            return (
                "no AWS credentials found (instance role, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or "
                "AWS_PROFILE for the user running the flush; started as root, the flush runs as the spool's "
                "owner, who cannot read root's ~/.aws)"
            )
        if isinstance(exc, _TRANSIENT_EXCEPTIONS):
            where = settings.s3_endpoint_url or f"S3 in {settings.region}"
            return f"cannot reach {where}: {exc} (network down, proxy, or wrong WAZUH_OCSF_S3_ENDPOINT_URL/REGION)"
        if isinstance(exc, OSError):
            return f"cannot read the local object: {exc}"
        if not isinstance(exc, ClientError):
            return str(exc)
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or str(exc)
        said = f"{code}: {message}"
        if exc.operation_name == "AssumeRole":
            if code == "AccessDenied":
                return (
                    f"{said}. Cannot assume {role}: the calling identity needs sts:AssumeRole on it, "
                    "and the role's trust policy must allow that identity with sts:ExternalId equal to "
                    "WAZUH_OCSF_EXTERNAL_ID (EXTERNAL_ID)"
                )
            return f"{said} (while assuming {role})"
        if code == "NoSuchBucket":
            return f"{said}. Check WAZUH_OCSF_BUCKET (AWS_BUCKET) and WAZUH_OCSF_REGION (REGION)"
        if code.startswith("KMS.") or "kms" in message.lower():
            return (
                f"{said}. The writer needs kms:GenerateDataKey (and kms:Decrypt for multipart uploads) on the "
                "bucket's KMS key" + (f" {settings.sse_kms_key_id}" if settings.sse_kms_key_id else "")
            )
        if code == "AccessDenied" or code == "403":
            prefix = key[: key.index("region=")] if "region=" in key else key
            writer = f"The provider role {role}" if role else "The writer"
            return (
                f"{said}. {writer} needs s3:PutObject on arn:aws:s3:::{self._bucket}/{prefix}* "
                "(and s3:AbortMultipartUpload there, for failed multipart uploads to clean up)"
                + (" and the bucket's KMS key must allow kms:GenerateDataKey" if settings.sse == "aws:kms" else "")
            )
        if code in _EXPIRED_CODES:
            return (
                f"{said}. The temporary credentials expired: renew AWS_SESSION_TOKEN, or set "
                "WAZUH_OCSF_ROLE_ARN so the role is assumed and refreshed automatically; check the clock too"
            )
        if code in _CREDENTIAL_CODES:
            return f"{said}. The credentials were rejected: check the access key, secret and the clock"
        return said


def _is_transient(exc: BaseException) -> bool:
    """Named transient errors only: connection failures, throttling, and 5xx replies."""
    if isinstance(exc, _TRANSIENT_EXCEPTIONS):
        return True
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in _TRANSIENT_CODES or status >= 500
    return False


def _session_name(node_name: str) -> str:
    """A RoleSessionName AWS accepts (2–64 of ``[\\w+=,.@-]``) that shows the node in CloudTrail."""
    return ("wazuh-ocsf-" + _SESSION_NAME_BAD.sub("-", node_name or "node"))[:64]
