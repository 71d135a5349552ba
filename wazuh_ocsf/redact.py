"""Keep secrets out of everything wazuh-ocsf writes for people: logs, status, state files.

The secrets are the values of the settings marked secret (the external id) and the AWS secret
key and session token of the environment. :func:`redact` replaces each with ``****``; the
CLI's log handler applies it to every record, whoever logged it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from wazuh_ocsf.config import SETTINGS

MASK = "****"
_ENV_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_MIN_LENGTH = 4  # shorter values would mask ordinary words; no real secret is that short


def secrets_of(settings, environ: dict | None = None) -> list:
    """The secret values in force: secret settings and the AWS secret key/token of the environment."""
    env = os.environ if environ is None else environ
    values = [getattr(settings, s.attr, None) for s in SETTINGS if s.secret]
    values += [env.get(name) for name in _ENV_SECRETS]
    # Longest first, so a secret that contains another is masked whole.
    return sorted({str(v) for v in values if v and len(str(v)) >= _MIN_LENGTH}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``****``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
