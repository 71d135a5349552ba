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
        self._s3 = None
        self._sts = None
        self._credentials = None

    # -- clients -------------------------------------------------------------------------------

    def _source(self) -> boto3.Session:
        if self._source_session is None:
            self._source_session = boto3.Session(region_name=self._settings.region)
        return self._source_session

    @property
    def sts_client(self):
        """The STS client that assumes the provider role (None when no role is configured)."""
        if self._settings.role_arn and self._sts is None:
            self._sts = self._source().client(
                "sts",
                region_name=self._settings.region,
                endpoint_url=self._settings.sts_endpoint_url,
                config=self._client_config,
            )
        return self._sts

    @property
    def credentials(self):
        """The credentials that sign the PUTs: refreshable assumed-role ones, or the source's."""
        if self._credentials is None:
            if self._settings.role_arn:
                self._credentials = DeferredRefreshableCredentials(
                    refresh_using=self._assume_role, method=_FixedCredentialProvider.METHOD
                )
            else:
                self._credentials = self._source().get_credentials()
        return self._credentials

    @property
    def s3_client(self):
        """The S3 client every PUT goes through (built on first use)."""
        if self._s3 is None:
            if self._settings.role_arn:
                core = botocore.session.get_session()
                resolver = core.get_component("credential_provider")
                resolver.insert_before("env", _FixedCredentialProvider(self.credentials))
                session = boto3.Session(botocore_session=core, region_name=self._settings.region)
            else:
                session = self._source()
            self._s3 = session.client(
                "s3",
                region_name=self._settings.region,
                endpoint_url=self._settings.s3_endpoint_url,
                config=self._client_config,
            )
        return self._s3

    def _assume_role(self) -> dict:
        """Assume the provider role with the external id; botocore calls this again before expiry."""
        params = {
            "RoleArn": self._settings.role_arn,
            "RoleSessionName": _session_name(self._settings.node_name),
            "DurationSeconds": ASSUME_ROLE_SECONDS,
        }
        if self._settings.external_id:
            params["ExternalId"] = self._settings.external_id
        log.info("Assuming role %s", self._settings.role_arn)
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
        prefixes = [self._settings.destination_prefix(c) for c in sorted(CLASS_NAMES)]
        text = ", ".join(f"s3://{self._bucket}/{p}" for p in prefixes if p) or f"s3://{self._bucket}/"
        if self._settings.s3_endpoint_url:
            text += f" at {self._settings.s3_endpoint_url}"
        if self._settings.role_arn:
            text += f" as {self._settings.role_arn}"
        return text

    def deliver(self, objects: Sequence[ParquetObject]) -> None:
        """Upload every object (multipart when large), or raise SinkError naming bucket, key, reason."""
        keyed = [(obj, object_key(self._settings, obj)) for obj in objects]
        if not keyed:
            return
        try:
            client = self.s3_client
        except BotoCoreError as exc:  # e.g. AWS_PROFILE names a profile that does not exist
            raise SinkError(f"Cannot set up the S3 client for s3://{self._bucket}/: {exc}") from exc
        # Interrupted (the flush deadline, ^C) or failed, the manager cancels what is queued on
        # exit; a request already waiting for S3 ends within WAZUH_OCSF_S3_READ_TIMEOUT.
        with TransferManager(client, self._transfer_config) as manager:
            for obj, key in keyed:
                self._upload(manager, obj, key)

    def _upload(self, manager: TransferManager, obj: ParquetObject, key: str) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                manager.upload(str(obj.path), self._bucket, key, extra_args=dict(self._extra_args)).result()
            except (ClientError, BotoCoreError, OSError) as exc:
                transient = _is_transient(exc)
                if not transient or attempt == self._attempts:
                    tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise SinkError(
                        f"Failed to upload {obj.path} to s3://{self._bucket}/{key}{tries}: {self._reason(exc, key)}"
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

    def _reason(self, exc: BaseException, key: str) -> str:
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
                    f"{said}. Cannot assume {settings.role_arn}: the calling identity needs sts:AssumeRole on it, "
                    "and the role's trust policy must allow that identity with sts:ExternalId equal to "
                    "WAZUH_OCSF_EXTERNAL_ID (EXTERNAL_ID)"
                )
            return f"{said} (while assuming {settings.role_arn})"
        if code == "NoSuchBucket":
            return f"{said}. Check WAZUH_OCSF_BUCKET (AWS_BUCKET) and WAZUH_OCSF_REGION (REGION)"
        if code.startswith("KMS.") or "kms" in message.lower():
            return (
                f"{said}. The writer needs kms:GenerateDataKey (and kms:Decrypt for multipart uploads) on the "
                "bucket's KMS key" + (f" {settings.sse_kms_key_id}" if settings.sse_kms_key_id else "")
            )
        if code == "AccessDenied" or code == "403":
            prefix = key[: key.index("region=")] if "region=" in key else key
            return (
                f"{said}. The writer needs s3:PutObject on arn:aws:s3:::{self._bucket}/{prefix}* "
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
