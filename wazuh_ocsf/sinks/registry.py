"""Which sinks a flush delivers to, from the settings.

Every configured sink gets every object; a segment leaves the spool only when all of them
have acknowledged it. The S3 sink's module (boto3) is imported only when a bucket is set.
"""

from __future__ import annotations

from wazuh_ocsf.config import Settings
from wazuh_ocsf.errors import ConfigError


def build_sinks(settings: Settings, output_dir: str | None = None) -> list:
    """The sinks to deliver to: the local sink when ``output_dir`` (or WAZUH_OCSF_OUTPUT_DIR)
    is set, the S3 sink when WAZUH_OCSF_BUCKET is set, the HTTP sink when WAZUH_OCSF_HTTP_URL is
    set. Raises ConfigError when none is."""
    sinks = []
    directory = output_dir or settings.output_dir
    if directory:
        from wazuh_ocsf.sinks.local import LocalSink

        sinks.append(LocalSink(settings, directory))
    if settings.bucket:
        from wazuh_ocsf.sinks.s3 import S3Sink

        sinks.append(S3Sink(settings))
    if settings.http_url:
        from wazuh_ocsf.sinks.http import HttpSink

        sinks.append(HttpSink(settings))
    if not sinks:
        raise ConfigError(
            "WAZUH_OCSF_BUCKET", "no destination: set the Security Lake bucket, or WAZUH_OCSF_OUTPUT_DIR / --output-dir"
        )
    return sinks
