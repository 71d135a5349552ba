"""Keep secrets out of everything wazuh-ocsf writes for people: logs, status, state files.

The secrets are the values of the settings marked secret (the external id, the HTTP auth
header), the AWS secret key and session token of the environment, and the parts of every
configured URL that may carry a credential: its userinfo (``user:password@``) and its query
string (``?token=…``). :func:`redact` replaces each with ``****`` and also strips userinfo
and query string from any URL in the text, whoever wrote it (an HTTP library's message
quotes the request path with its query, without the host). The CLI's log handler applies it
to every record.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from wazuh_ocsf.config import SETTINGS

MASK = "****"
_ENV_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_MIN_LENGTH = 4  # shorter values would mask ordinary words; no real secret is that short
# scheme, userinfo, host and path, query, fragment; a URL's query ends before trailing punctuation
# ("…?token=x, next" keeps its comma).
_URL = re.compile(
    r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^\s/?#'\"<>]*@)?([^\s?#'\"<>]*)"
    r"(\?(?:[^\s#'\"<>)]*[^\s#'\"<>),;.])?)?(#(?:[^\s'\"<>)]*[^\s'\"<>),;.])?)?"
)


def public_url(url: str) -> str:
    """``url`` without userinfo, query string or fragment: ``https://host:8088/path``.

    A query string that was there shows as ``?****``, so a reader knows one is configured.
    """
    return _URL.sub(_public, url.strip())


def _public(match: re.Match) -> str:
    scheme, _userinfo, rest, query, _fragment = match.groups()
    return scheme + rest + (f"?{MASK}" if query and len(query) > 1 else "")


def _url_secrets(url: str) -> list:
    """The parts of a URL that may hold a credential: its userinfo, password and query string."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return [url]
    found = [parts.query, parts.fragment]
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        found += [userinfo, userinfo.partition(":")[2]]
    return found


def secrets_of(settings, environ: dict | None = None) -> list:
    """The secret values in force: secret settings, credentials in URL settings, AWS's secret key/token."""
    env = os.environ if environ is None else environ
    values = []
    for setting in SETTINGS:
        value = getattr(settings, setting.attr, None)
        if setting.secret:
            values.append(value)
        elif isinstance(value, str) and "://" in value:
            values += _url_secrets(value)
    values += [env.get(name) for name in _ENV_SECRETS]
    # Longest first, so a secret that contains another is masked whole.
    return sorted({str(v) for v in values if v and len(str(v)) >= _MIN_LENGTH}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``****`` and every URL's userinfo and query string removed."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return public_url(text) if "://" in text else text
