"""Settings: one ``KEY=VALUE`` file, overridden by environment variables, validated once.

The file is ``<wazuh home>/etc/wazuh-ocsf.conf`` (or the file named by ``WAZUH_OCSF_CONFIG``).
Its keys are the environment variables' names, so the same file serves as a systemd
``EnvironmentFile=``. Precedence, highest first: the environment, then the file, then the
default; within each, the ``WAZUH_OCSF_*`` name wins over the seed guide's name
(``AWS_BUCKET``, ``SOURCE_LOCATION``, ``ACCOUNT_ID``, ``REGION``, ``ROLE_ARN``,
``EXTERNAL_ID``, ``OCSF_CLASS``).

The hook imports this module on every alert: standard library only, and cheap parts of it
(no dataclasses, typing, logging or re at run time).
"""

from __future__ import annotations

import os

from wazuh_ocsf.errors import ConfigError
from wazuh_ocsf.lake.aws_names import lake_bucket_region, parse_bucket, parse_region

DEFAULT_WAZUH_HOME = "/var/ossec"
CONFIG_RELPATH = "etc/wazuh-ocsf.conf"
CONFIG_ENV = "WAZUH_OCSF_CONFIG"
PREFIX = "WAZUH_OCSF_"
#: ``WAZUH_OCSF_*`` environment variables that are not settings (the file holds only settings).
NOT_SETTINGS = frozenset({
    CONFIG_ENV, "WAZUH_OCSF_CRASH_AT", "WAZUH_OCSF_PYTHON", "WAZUH_OCSF_INSTALLER_PYTHON",
    # the test suite's own switches (tests/conftest.py, tests/real_manager, the golden files)
    "WAZUH_OCSF_UPDATE_GOLDEN", "WAZUH_OCSF_UPDATE_REAL_CORPUS", "WAZUH_OCSF_REQUIRE_ALL", "WAZUH_OCSF_KIT_OUT",
    "WAZUH_OCSF_WAZUH_KIT",
})

SECURITY_FINDING = 2001
DETECTION_FINDING = 2004
VULNERABILITY_FINDING = 2002
COMPLIANCE_FINDING = 2003
FILE_ACTIVITY = 1001
AUTHENTICATION = 3002
#: THE class table: every OCSF class wazuh-ocsf writes, class_uid → OCSF class name. The
#: name is also the mapper module (``wazuh_ocsf.mapping.<name>``), the setting prefix
#: (``WAZUH_OCSF_<NAME>_SOURCE``) and the Glue table's class.
CLASS_NAMES = {
    SECURITY_FINDING: "security_finding",
    DETECTION_FINDING: "detection_finding",
    VULNERABILITY_FINDING: "vulnerability_finding",
    COMPLIANCE_FINDING: "compliance_finding",
    FILE_ACTIVITY: "file_activity",
    AUTHENTICATION: "authentication",
}
#: The classes every alert can become (``WAZUH_OCSF_OCSF_CLASS``, ``<options>``, ``map --class``).
FINDING_CLASSES = (SECURITY_FINDING, DETECTION_FINDING)
#: The classes only ``auto`` routing chooses, for the alerts that fit them, in routing order.
ROUTED_CLASSES = (VULNERABILITY_FINDING, COMPLIANCE_FINDING, FILE_ACTIVITY, AUTHENTICATION)
#: ``WAZUH_OCSF_OCSF_CLASS=auto``: each alert in the class that fits it (see mapping.routing).
AUTO = "auto"
_DEFAULT_SOURCES = {
    VULNERABILITY_FINDING: "wazuh-vulnerability",
    COMPLIANCE_FINDING: "wazuh-compliance",
    FILE_ACTIVITY: "wazuh-file-activity",
    AUTHENTICATION: "wazuh-authentication",
}
_CLASS_WORDS = {
    "security_finding": SECURITY_FINDING,
    "security-finding": SECURITY_FINDING,
    "2001": SECURITY_FINDING,
    "detection_finding": DETECTION_FINDING,
    "detection-finding": DETECTION_FINDING,
    "2004": DETECTION_FINDING,
}

_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_class(value: str) -> int:
    """``security_finding`` / ``SECURITY_FINDING`` / ``security-finding`` / ``2001`` → 2001 (likewise 2004)."""
    try:
        return _CLASS_WORDS[str(value).strip().lower()]
    except KeyError:
        raise ValueError("expected security_finding (2001) or detection_finding (2004)") from None


def parse_class_choice(value: str) -> int | str:
    """:func:`parse_class`, or :data:`AUTO` for ``auto`` (route each alert to the class that fits it)."""
    if str(value).strip().lower() == AUTO:
        return AUTO
    try:
        return parse_class(value)
    except ValueError:
        raise ValueError("expected auto, security_finding (2001) or detection_finding (2004)") from None


def parse_any_class(value: str) -> int:
    """Any class of :data:`CLASS_NAMES` by name (``file_activity``, ``file-activity``) or uid."""
    word = str(value).strip().lower().replace("-", "_")
    for class_uid, name in CLASS_NAMES.items():
        if word in (name, str(class_uid)):
            return class_uid
    raise ValueError("expected one of " + ", ".join(CLASS_NAMES.values()))


def default_source_name(class_uid: int) -> str:
    """The custom source name ``create-source`` gives a class that has none configured:
    ``wazuh`` for the finding class, ``wazuh-<class>`` (at most 20 characters) for a routed one."""
    return _DEFAULT_SOURCES.get(class_uid, "wazuh")


def class_name(class_uid: int) -> str:
    """2001 → ``security_finding``, 2004 → ``detection_finding``, … (:data:`CLASS_NAMES`)."""
    return CLASS_NAMES[class_uid]


def _parse_size(value: str) -> int:
    text = value.strip().lower().rstrip("b").replace("i", "")
    unit = text[-1:] if text[-1:] in _SIZE_UNITS and not text[-1:].isdigit() else ""
    number = text[: len(text) - len(unit)].strip()
    try:
        size = int(float(number) * _SIZE_UNITS[unit])
    except ValueError:
        raise ValueError("expected a size in bytes, e.g. 33554432, 32M or 2G") from None
    if size <= 0:
        raise ValueError("expected a size greater than zero")
    return size


def _parse_seconds(value: str) -> float:
    text = value.strip().lower()
    unit = text[-1:] if text[-1:] in _TIME_UNITS and not text[-1:].isdigit() else ""
    try:
        seconds = float(text[: len(text) - len(unit)]) * _TIME_UNITS[unit]
    except ValueError:
        raise ValueError("expected a duration, e.g. 300, 300s, 5m or 1h") from None
    if seconds < 0:
        raise ValueError("expected a duration of zero or more")
    return seconds


def parse_duration(value: str) -> float:
    """``300``, ``300s``, ``5m``, ``12h``, ``7d`` → seconds (ValueError otherwise)."""
    return _parse_seconds(value)


def _parse_int(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError("expected a whole number") from None


def _parse_count(value: str) -> int:
    number = _parse_int(value)
    if number < 0:
        raise ValueError("expected a whole number of zero or more")
    return number


def _part_size(value: str) -> int:
    size = _parse_size(value)
    # S3 refuses multipart parts under 5 MiB (all but the last).
    if size < 5 * 1024**2:
        raise ValueError("expected at least 5M (S3's smallest multipart part)")
    return size


def _choice(*allowed: str):
    def parse(value: str) -> str:
        word = value.strip().lower()
        if word not in allowed:
            raise ValueError("expected one of " + ", ".join(allowed))
        return word

    return parse


def _text(value: str) -> str:
    return value.strip()


def _parse_bool(value: str) -> bool:
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _rule_ids(value: str) -> tuple:
    # integratord's <rule_id>: comma-separated rule ids
    try:
        ids = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ValueError("expected comma-separated rule ids, e.g. 5710,5712") from None
    if not ids:
        raise ValueError("expected at least one rule id")
    return ids


def _groups(value: str) -> tuple:
    # integratord's <group>: comma-separated group names, empty entries ignored ("sshd,")
    groups = tuple(part.strip() for part in value.split(",") if part.strip())
    if not groups:
        raise ValueError("expected comma-separated rule groups, e.g. authentication_failed,sshd")
    return groups


def _workers(value: str) -> int:
    if value.strip().lower() == "auto":
        return max(1, min(os.cpu_count() or 1, 4))
    number = _parse_int(value)
    if number < 1:
        raise ValueError("expected auto or a whole number of 1 or more")
    return number


def _positive_seconds(value: str) -> float:
    seconds = _parse_seconds(value)
    if seconds <= 0:
        raise ValueError("expected a duration greater than zero")
    return seconds


def _fraction(value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError("expected a fraction, e.g. 0.5") from None
    if not 0 < number <= 1:
        raise ValueError("expected a fraction greater than 0 and at most 1")
    return number


def _account_id(value: str) -> str:
    text = value.strip()
    if text == "external" or text.startswith("external_") or (len(text) == 12 and text.isdigit()):
        return text
    raise ValueError("expected a 12-digit AWS account id, 'external' or 'external_<id>'")


def _source_name(value: str) -> str:
    text = value.strip()
    # Security Lake's CreateCustomLogSource limits sourceName to 20 characters.
    if not 1 <= len(text) <= 20:
        raise ValueError("expected a custom source name of 1 to 20 characters (Security Lake's limit)")
    return text


class Setting:
    """One setting: its attribute name, default, parser, seed-guide alias and whether it is secret."""

    __slots__ = ("alias", "attr", "default", "env", "help", "parse", "secret")

    def __init__(self, attr, default, parse, help, alias=None, secret=False):
        self.attr = attr
        self.env = PREFIX + attr.upper()
        self.default = default
        self.parse = parse
        self.alias = alias
        self.secret = secret
        self.help = help


# Defaults of None mean "not set"; "{home}" is replaced by the Wazuh home.
SETTINGS = (
    Setting("wazuh_home", DEFAULT_WAZUH_HOME, _text, "Wazuh home directory"),
    Setting("spool_dir", "{home}/wazuh-ocsf/spool", _text, "spool directory"),
    Setting("node_name", None, _text, "this manager node's name in segment and object names (default: host name)"),
    Setting(
        "ocsf_class",
        "security_finding",
        parse_class_choice,
        "OCSF class: security_finding, detection_finding, or auto (each alert in the class that fits it)",
        alias="OCSF_CLASS",
    ),
    Setting(
        "finding_class",
        "detection_finding",
        parse_class,
        "with OCSF_CLASS=auto: the class of alerts no route takes (detection_finding or security_finding)",
    ),
    Setting("product_version", None, _text, "Wazuh version in metadata.product.version (default: VERSION.json)"),
    Setting("attack_version", None, _text, "MITRE ATT&CK version in attacks[].version"),
    Setting("segment_max_bytes", "32M", _parse_size, "rotate the active segment at this size"),
    Setting("segment_max_age", "300", _parse_seconds, "rotate the active segment at this age (seconds)"),
    Setting("spool_max_bytes", "2G", _parse_size, "size cap of the whole spool"),
    Setting("spool_full_policy", "refuse", _choice("refuse", "drop-oldest"), "what to do at the cap"),
    Setting("fsync", "rotate", _choice("append", "rotate", "never"), "when spool data is forced to disk"),
    Setting("lock_timeout", "0.5", _parse_seconds, "how long the hook waits for the spool lock (seconds)"),
    Setting("security_finding_source", None, _source_name, "Security Lake custom source for class 2001"),
    Setting("detection_finding_source", None, _source_name, "Security Lake custom source for class 2004"),
    Setting(
        "security_finding_location", None, _text, "exact provider.location for class 2001 (overrides ext/<source>/)"
    ),
    Setting(
        "detection_finding_location", None, _text, "exact provider.location for class 2004 (overrides ext/<source>/)"
    ),
    *(
        Setting(f"{name}_source", None, _source_name, f"Security Lake custom source for class {uid} (auto routing)")
        for uid, name in CLASS_NAMES.items()
        if uid in ROUTED_CLASSES
    ),
    *(
        Setting(f"{name}_location", None, _text, f"exact provider.location for class {uid} (overrides ext/<source>/)")
        for uid, name in CLASS_NAMES.items()
        if uid in ROUTED_CLASSES
    ),
    Setting(
        "source_location",
        None,
        _source_name,
        "custom source of the configured OCSF class (seed guide name)",
        alias="SOURCE_LOCATION",
    ),
    Setting("bucket", None, parse_bucket, "Security Lake S3 bucket (its name, not an s3:// URL)", alias="AWS_BUCKET"),
    Setting("region", None, parse_region, "AWS region of the lake", alias="REGION"),
    Setting("account_id", None, _account_id, "account id in the partition path", alias="ACCOUNT_ID"),
    Setting("role_arn", None, _text, "provider role to assume (for every class without its own)", alias="ROLE_ARN"),
    *(
        Setting(f"{name}_role_arn", None, _text, f"provider role of class {uid}'s source (default: ROLE_ARN)")
        for uid, name in CLASS_NAMES.items()
    ),
    Setting("external_id", None, _text, "external id for AssumeRole", alias="EXTERNAL_ID", secret=True),
    Setting("s3_endpoint_url", None, _text, "endpoint of an S3-compatible store"),
    Setting("sts_endpoint_url", None, _text, "STS endpoint for AssumeRole (default: the region's)"),
    Setting("s3_multipart_threshold", "64M", _part_size, "upload objects of this size or more in parts of this size"),
    Setting("s3_retries", "2", _parse_count, "extra attempts per object after a transient S3 error"),
    Setting("s3_connect_timeout", "10", _positive_seconds, "seconds to wait for a connection to S3 or STS"),
    Setting("s3_read_timeout", "60", _positive_seconds, "seconds to wait for S3 or STS to answer a request"),
    Setting("sse", "none", _choice("none", "aes256", "aws:kms"), "server-side encryption header to send"),
    Setting("sse_kms_key_id", None, _text, "KMS key id for sse=aws:kms"),
    Setting("output_dir", None, _text, "local sink: write the partition tree here"),
    Setting("object_max_bytes", "256M", _parse_size, "split Parquet objects at about this size"),
    Setting("compression", "zstd", _choice("zstd", "snappy", "gzip", "none"), "Parquet compression"),
    Setting("archive_dir", None, _text, "keep delivered segments here instead of deleting them"),
    Setting("archive_retention", "7d", _parse_seconds, "how long archived segments are kept"),
    Setting("follow_level", None, _parse_count, "follow: only alerts of this rule level or higher (as <level>)"),
    Setting("follow_group", None, _groups, "follow: only alerts in one of these comma-separated groups (as <group>)"),
    Setting("follow_rule_id", None, _rule_ids, "follow: only these comma-separated rule ids (as <rule_id>)"),
    Setting("follow_workers", "auto", _workers, "follow and backfill: mapping processes (auto: CPUs, at most 4)"),
    Setting("lag_max_age", "10m", _positive_seconds, "status: unhealthy when an alert waits this long to be spooled"),
    Setting("gap_fill_window", "2h", _positive_seconds, "gap fill: how far back each scheduled run looks at first"),
    Setting(
        "hook_safe_fraction",
        "0.5",
        _fraction,
        "doctor: advise follow when the alert rate passes this share of the measured hook rate",
    ),
    Setting("http_url", None, _text, "HTTP sink: collector URL that receives gzipped OCSF NDJSON"),
    Setting(
        "http_auth_header",
        None,
        _text,
        "HTTP sink: 'Name: value' header, e.g. 'Authorization: Splunk <token>'",
        secret=True,
    ),
    Setting("http_verify", "true", _parse_bool, "HTTP sink: verify the collector's TLS certificate"),
    Setting("http_ca_bundle", None, _text, "HTTP sink: CA bundle file to verify the collector with"),
    Setting("http_timeout", "30", _positive_seconds, "HTTP sink: seconds to wait for the collector per request"),
    Setting("http_connect_timeout", "10", _positive_seconds, "HTTP sink: seconds to wait for a connection"),
    Setting("http_retries", "3", _parse_count, "HTTP sink: extra attempts per request after a transient error"),
    Setting("http_batch_max_bytes", "4M", _parse_size, "HTTP sink: uncompressed NDJSON bytes per request at most"),
    Setting(
        "flush_deadline", "10m", _positive_seconds, "a flush stops delivering after this long and releases its lock"
    ),
    Setting(
        "scheduler",
        None,
        _choice("systemd", "cron", "none"),
        "how the flush is scheduled, as the installer was told (none: the administrator runs it; doctor accepts that)",
    ),
)
SETTINGS_BY_ATTR = {s.attr: s for s in SETTINGS}
KNOWN_NAMES = frozenset(n for s in SETTINGS for n in (s.env, s.alias) if n)
_warned: set = set()  # unknown environment variables already warned about by this process


def closest_name(name: str) -> str | None:
    """The known setting name nearest to a misspelt one (``WAZUH_OCSF_SPOOL_MAX_BYTE`` → ``…_BYTES``)."""
    import difflib  # only on this error path: the hook never pays for it

    found = difflib.get_close_matches(name, sorted(KNOWN_NAMES), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_names(names) -> list:
    """``WAZUH_OCSF_*`` names among ``names`` that are neither a setting nor one of :data:`NOT_SETTINGS`."""
    return sorted(n for n in names if n.startswith(PREFIX) and n not in KNOWN_NAMES and n not in NOT_SETTINGS)


def _did_you_mean(name: str) -> str:
    near = closest_name(name)
    return f" (did you mean {near}?)" if near else ""


class Settings:
    """All settings, parsed and validated. Build with :func:`load_settings`.

    ``ocsf_class`` is always a finding class (2001 or 2004): every alert's class, or with
    ``WAZUH_OCSF_OCSF_CLASS=auto`` (``routing`` true) the class of the alerts no route takes.
    """

    def __init__(self, values: dict, sources: dict) -> None:
        self.__dict__.update(values)
        self._sources = sources

    def source_of(self, attr: str) -> str:
        """Where a setting's value came from: ``env:NAME``, ``file:PATH`` or ``default``."""
        return self._sources[attr]

    def destination_source(self, class_uid: int) -> str | None:
        """The Security Lake custom source name configured for an OCSF class, if any."""
        name = self.__dict__[class_name(class_uid) + "_source"]
        if name is None and class_uid == self.ocsf_class:
            name = self.source_location
        return name

    def destination_prefix(self, class_uid: int) -> str | None:
        """The key prefix for a class: its exact provider location, else ``ext/<source>/``."""
        location = self.__dict__[class_name(class_uid) + "_location"]
        if location:
            if location.startswith("s3://"):
                location = location[5:].split("/", 1)[1] if "/" in location[5:] else ""
            return location.strip("/") + "/"
        source = self.destination_source(class_uid)
        return f"ext/{source}/" if source else None

    def destination_role(self, class_uid: int) -> str | None:
        """The provider role that writes a class's objects: its own (``WAZUH_OCSF_<CLASS>_ROLE_ARN``),
        else ``ROLE_ARN``; None: the default credentials write.

        Security Lake gives each custom source its own provider role, allowed to write to that
        source's location only.
        """
        return self.__dict__[class_name(class_uid) + "_role_arn"] or self.role_arn

    def destination_roles(self) -> tuple:
        """Every distinct provider role of the classes with a destination, in class order (None: no role)."""
        roles = [self.destination_role(c) for c in sorted(CLASS_NAMES) if self.has_destination(c)]
        return tuple(dict.fromkeys(roles))

    def has_destination(self, class_uid: int) -> bool:
        """Whether events of this class have somewhere to go."""
        return self.destination_prefix(class_uid) is not None

    def active_routes(self) -> tuple:
        """The routed classes ``auto`` may send alerts to: those with a destination, in routing order.

        A routed class without a destination is not routed: its alerts go to the finding class.
        """
        return tuple(class_uid for class_uid in ROUTED_CLASSES if self.has_destination(class_uid))

    def masked(self) -> dict:
        """Every setting's value as text, secrets masked and URLs without credentials, for status output."""
        from wazuh_ocsf.redact import MASK, public_url

        out = {}
        for setting in SETTINGS:
            value = self.__dict__[setting.attr]
            if setting.attr == "ocsf_class" and self.routing:
                value = AUTO
            elif setting.parse in (parse_class, parse_class_choice):
                value = class_name(value)
            if value is not None and setting.secret:
                value = MASK
            elif isinstance(value, str) and "://" in value:
                value = public_url(value)
            out[setting.env] = value
        return out


def read_config_file(path: str) -> dict:
    """Parse a ``KEY=VALUE`` file: ``#`` comments, blank lines, optional ``export``, quotes.

    Raises ConfigError naming the file and line for anything else.
    """
    values = {}
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return values
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot read the config file: {exc}") from None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or not key.replace("_", "").isalnum():
            raise ConfigError(f"{path}:{number}", "expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def default_config_path(wazuh_home: str) -> str:
    """``<wazuh home>/etc/wazuh-ocsf.conf``."""
    return os.path.join(wazuh_home, CONFIG_RELPATH)


def _lookup(setting: Setting, env: dict, file_values: dict, path: str):
    for name, origin, table in (
        (setting.env, "env", env),
        (setting.alias, "env", env),
        (setting.env, "file", file_values),
        (setting.alias, "file", file_values),
    ):
        if name and name in table and table[name] != "":
            where = f"env:{name}" if origin == "env" else f"file:{path}"
            return table[name], where
    return setting.default, "default"


def config_location(*, wazuh_home: str | None = None, path: str | None = None, environ: dict | None = None) -> tuple:
    """``(wazuh home, config file)`` as every reader finds them.

    Home: ``WAZUH_OCSF_WAZUH_HOME``, else the caller's ``wazuh_home``, else ``/var/ossec``.
    File: ``path``, else ``WAZUH_OCSF_CONFIG``, else ``<home>/etc/wazuh-ocsf.conf``. (A
    ``WAZUH_OCSF_WAZUH_HOME`` line inside the file can still move the home afterwards.)
    """
    env = os.environ if environ is None else environ
    home = env.get(SETTINGS_BY_ATTR["wazuh_home"].env) or wazuh_home or DEFAULT_WAZUH_HOME
    return home, path or env.get(CONFIG_ENV) or default_config_path(home)


def raw_spool_location(wazuh_home: str | None, environ: dict | None = None) -> tuple:
    """``(spool_dir, node_name)`` as :func:`load_settings` would find them, other settings ignored.

    For the hook when the settings are invalid: it still needs the dead-letter directory. Same
    environment > file > default precedence and ``{home}`` substitution; a config file that
    cannot be parsed counts as empty, and no other setting is validated.
    """
    env = os.environ if environ is None else environ
    home, path = config_location(wazuh_home=wazuh_home, environ=env)
    try:
        file_values = read_config_file(path)
    except ConfigError:
        file_values = {}
    if not wazuh_home and not env.get(SETTINGS_BY_ATTR["wazuh_home"].env):
        home = file_values.get(SETTINGS_BY_ATTR["wazuh_home"].env) or home
    found = []
    for attr in ("spool_dir", "node_name"):
        raw, _ = _lookup(SETTINGS_BY_ATTR[attr], env, file_values, path)
        found.append(None if raw is None else raw.replace("{home}", home).strip())
    spool_dir, node_name = found
    return spool_dir, node_name or os.uname().nodename or "wazuh-manager"


def _wazuh_version(home: str) -> str | None:
    from wazuh_ocsf import json_codec  # not json: the hook does not load it

    try:
        with open(os.path.join(home, "VERSION.json"), encoding="utf-8") as handle:
            version = json_codec.loads(handle.read()).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    return str(version).lstrip("v") if version else None


def load_settings(
    *,
    wazuh_home: str | None = None,
    path: str | None = None,
    environ: dict | None = None,
) -> Settings:
    """Read, merge and validate every setting.

    ``wazuh_home`` is where the caller believes Wazuh lives (the hook derives it from its own
    location); ``WAZUH_OCSF_WAZUH_HOME`` overrides it. ``path`` names the config file
    (default: ``WAZUH_OCSF_CONFIG``, else ``<home>/etc/wazuh-ocsf.conf``; a missing file means
    all defaults). Raises ConfigError naming the first bad setting.
    """
    env = os.environ if environ is None else environ
    home, path = config_location(wazuh_home=wazuh_home, path=path, environ=env)
    file_values = read_config_file(path)
    unknown = unknown_names(file_values)
    if unknown:
        raise ConfigError(unknown[0], f"not a wazuh-ocsf setting{_did_you_mean(unknown[0])}, in {path}")
    for name in unknown_names(env):
        if name not in _warned:
            _warned.add(name)
            note = f"warning: {name} in the environment is not a wazuh-ocsf setting{_did_you_mean(name)}\n"
            os.write(2, note.encode())
    if not wazuh_home and not env.get(SETTINGS_BY_ATTR["wazuh_home"].env):
        home = file_values.get(SETTINGS_BY_ATTR["wazuh_home"].env) or home
    values, sources = {}, {}
    for setting in SETTINGS:
        if setting.attr == "wazuh_home":
            values["wazuh_home"], sources["wazuh_home"] = home, "default"
            continue
        raw, where = _lookup(setting, env, file_values, path)
        if raw is None:
            values[setting.attr] = None
        else:
            if isinstance(raw, str):
                raw = raw.replace("{home}", home)
            try:
                values[setting.attr] = setting.parse(str(raw))
            except ValueError as exc:
                name = where[4:] if where.startswith("env:") else setting.env
                raise ConfigError(name, f"{exc} (got {raw!r} from {where})") from None
        sources[setting.attr] = where
    # ocsf_class is the finding class (every alert's class, or with auto the class of alerts no
    # route takes); routing says whether auto routes the others.
    values["routing"] = values["ocsf_class"] == AUTO
    if values["routing"]:
        values["ocsf_class"] = values["finding_class"]
    if values["node_name"] is None:
        values["node_name"] = os.uname().nodename or "wazuh-manager"
    if values["product_version"] is None:
        values["product_version"] = _wazuh_version(home)
    named = lake_bucket_region(values["bucket"] or "")
    if named and values["region"] and named != values["region"]:
        raise ConfigError(
            SETTINGS_BY_ATTR["bucket"].env,
            f"{values['bucket']} is the Security Lake bucket of {named}, but WAZUH_OCSF_REGION is "
            f"{values['region']}: objects would be written under region={values['region']}/ in the {named} lake; "
            "set the region the lake is in",
        )
    if values["sse"] == "aws:kms" and not values["sse_kms_key_id"]:
        raise ConfigError(SETTINGS_BY_ATTR["sse_kms_key_id"].env, "required when WAZUH_OCSF_SSE=aws:kms")
    values["config_path"] = path
    return Settings(values, sources)
