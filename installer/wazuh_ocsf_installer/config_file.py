"""``<home>/etc/wazuh-ocsf.conf``: written from command-line options, updated in place on re-runs.

The file is read by the hook, the flusher and the CLI (``wazuh_ocsf.config``) and by systemd as
the flusher's ``EnvironmentFile=``, so values are written in a form both read the same way:
plain when they hold only safe characters, else in single quotes (no escapes, no ``$``
expansion in either reader). Secrets are written to the file (root:wazuh 0640) and nowhere else.
"""

from __future__ import annotations

import os
import re
import tempfile
import time

from wazuh_ocsf.config import SETTINGS, load_settings, read_config_file
from wazuh_ocsf.errors import ConfigError
from wazuh_ocsf_installer.errors import UsageError

HEADER = (
    "# wazuh-ocsf settings (KEY=VALUE; the names of wazuh_ocsf/config.py, also read by systemd).\n"
    "# Written by the wazuh-ocsf installer on {date}; edit freely: re-running the installer keeps this\n"
    "# file and changes only the settings given on its command line (--reset-config rewrites it).\n"
)
_KNOWN = {s.env: s for s in SETTINGS}
_ALIASES = {s.alias: s for s in SETTINGS if s.alias}
SECRET_KEYS = frozenset(s.env for s in SETTINGS if s.secret) | frozenset(
    s.alias for s in SETTINGS if s.secret and s.alias
)
_PLAIN_RE = re.compile(r"[A-Za-z0-9_@%+=:,./{}\[\]-]*")
_LINE_RE = re.compile(r"\s*(?:export\s+)?([A-Za-z0-9_]+)\s*=")


def setting_key(name: str) -> str:
    """The ``WAZUH_OCSF_*`` name of a setting given as that name, its seed-guide alias or attribute."""
    upper = name.strip().upper()
    if upper in _KNOWN:
        return upper
    if upper in _ALIASES:
        return _ALIASES[upper].env
    if "WAZUH_OCSF_" + upper in _KNOWN:
        return "WAZUH_OCSF_" + upper
    raise UsageError(f"--set: unknown setting {name!r}; the settings are: {', '.join(sorted(_KNOWN))}")


def quote(key: str, value: str) -> str:
    """``value`` as written in the file; refuse what cannot be written so that both readers agree."""
    if "\n" in value or "\r" in value or "\0" in value:
        raise UsageError(f"{key}: a value cannot span lines")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{key}: the value is not valid text (bytes that are not UTF-8)") from None
    if value != value.strip():
        raise UsageError(f"{key}: a value cannot start or end with white space")
    if _PLAIN_RE.fullmatch(value):
        return value
    if "'" in value:
        raise UsageError(f"{key}: a value with both a single quote and special characters cannot be written")
    return f"'{value}'"


def compose(existing: str | None, updates: dict, *, reset: bool, drop=frozenset()) -> str:
    """The new file: ``existing`` with the ``updates`` (key → value) set in place, or a fresh file.

    Lines setting a key in ``drop`` are removed (unless ``updates`` sets it).
    """
    if existing is None or reset:
        text = HEADER.format(date=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
        return text + "".join(f"{key}={quote(key, value)}\n" for key, value in updates.items())
    lines = existing.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    pending = dict(updates)
    out = []
    for line in lines:
        match = _LINE_RE.match(line)
        key = match.group(1) if match else None
        if key in updates:
            if key in pending:
                out.append(f"{key}={quote(key, pending.pop(key))}\n")
            continue  # a later duplicate of a key we set would silently win: drop it
        if key in drop:
            continue
        out.append(line)
    out.extend(f"{key}={quote(key, value)}\n" for key, value in pending.items())
    return "".join(out)


def masked(text: str) -> str:
    """``text`` with the value of every secret setting replaced by ``****``, for display."""
    out = []
    for line in text.splitlines(keepends=True):
        match = _LINE_RE.match(line)
        if match and match.group(1) in SECRET_KEYS:
            line = f"{match.group(1)}=****\n"
        out.append(line)
    return "".join(out)


def _parse(text: str, reader):
    """``reader(path)`` on ``text`` written to a private temp file (the readers take paths)."""
    with tempfile.TemporaryDirectory(prefix="wazuh-ocsf-installer-") as tmp:
        path = os.path.join(tmp, "wazuh-ocsf.conf")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        try:
            return reader(path)
        except ConfigError as exc:
            raise UsageError(f"the wazuh-ocsf settings would be invalid: {exc}") from None


def validate(text: str, home: str):
    """Parse ``text`` as the hook will (nothing from the environment); the Settings, or UsageError."""
    return _parse(text, lambda path: load_settings(wazuh_home=home, path=path, environ={}))


def values(text: str) -> dict:
    """The ``KEY=VALUE`` pairs of ``text`` as the programs read them, or UsageError."""
    return _parse(text, read_config_file)
