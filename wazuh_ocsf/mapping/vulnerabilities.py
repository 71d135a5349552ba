"""``data.vulnerability`` → OCSF ``vulnerabilities[]``: one builder for every class that has it.

Vulnerability Finding uses it; Security Finding and Detection Finding have the same
``vulnerabilities`` attribute in OCSF 1.1.0 and can call :func:`map_vulnerabilities` as is.

Both shapes of Wazuh's vulnerability detector are read:

* 4.8+: ``score`` {``base``, ``version``}, ``package`` {name, version, architecture,
  condition, source}, ``reference`` (URLs joined by ``", "``), ``published``/``updated``,
  ``scanner`` {reference, source}, ``classification``, ``enumeration``, ``status``;
* 4.2–4.7: ``cvss`` {``cvss2``, ``cvss3``} each {``base_score`` as ``"6.800000"``, ``vector``
  {attack_vector, …}}, ``references`` (a list), ``cwe_reference``, ``bugzilla_references``,
  ``rationale``.

Scores become numbers (OCSF ``float_t``), so ``base_score >= 9`` is a plain query; each
CVSS ``vector`` member becomes a ``metrics`` name/value pair. ``condition`` "Package less
than X" gives ``fixed_in_version`` X. Dates become epoch milliseconds. Values converted
from text stay in ``unmapped`` too; values held exactly are marked used under ``prefix``.
"""

from __future__ import annotations

from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping.base import text_at
from wazuh_ocsf.mapping.common import cut, text_list
from wazuh_ocsf.mapping.timestamps import parse_timestamp

PREFIX = "data.vulnerability"
_FIXED_BEFORE = "Package less than "
_CVSS_KEYS = (("cvss2", "2.0"), ("cvss3", "3"))  # 4.7 names no minor version for CVSS 3
_FLOAT_CHARS = frozenset("0123456789.")


def score(value: object) -> float | None:
    """A CVSS score 0–10 from a number or decimal text (``"6.800000"``), else None."""
    if type(value) is str:
        if not 0 < len(value) <= 20 or not _FLOAT_CHARS.issuperset(value) or value.count(".") > 1 or value == ".":
            return None
        value = float(value)
    elif type(value) is int:
        value = float(value)
    elif type(value) is not float:
        return None
    return value if 0.0 <= value <= 10.0 else None


def _date_ms(value: object) -> int | None:
    """``2024-07-01T13:15:01Z`` or ``2024-07-01`` → epoch milliseconds, else None."""
    if type(value) is not str or not value:
        return None
    if len(value) == 10:
        value += "T00:00:00Z"
    try:
        return parse_timestamp(value)[0]
    except AlertError:
        return None




def _metrics(vector: object, path: str, used: set) -> list | None:
    if type(vector) is not dict:
        return None
    metrics = [
        {"name": cut(name), "value": value if len(value) <= 65535 else cut(value)}
        for name, value in vector.items()
        if type(name) is str and name and type(value) is str and value
    ]
    if metrics and len(metrics) == len(vector):
        used.add(path)
    return metrics or None


def _cvss(vulnerability: dict, severity: str | None, used: set) -> list:
    entries = []
    cvss = vulnerability.get("cvss")
    if type(cvss) is dict:
        for key, version in _CVSS_KEYS:
            block = cvss.get(key)
            if type(block) is not dict:
                continue
            base = score(block.get("base_score"))
            if base is None:
                continue
            entry = {"version": version, "base_score": base, "depth": "Base"}
            metrics = _metrics(block.get("vector"), f"{PREFIX}.cvss.{key}.vector", used)
            if metrics is not None:
                entry["metrics"] = metrics
            entries.append(entry)
    scored = vulnerability.get("score")
    if type(scored) is dict:
        base = score(scored.get("base"))
        version = text_at(scored, "version", f"{PREFIX}.score.version", used)
        if base is not None and version is not None:
            known = [entry for entry in entries if entry["version"][0] == version[0]]
            if known:  # the same score in both shapes: keep the precise version
                known[0]["version"] = version
            else:
                entries.append({"version": version, "base_score": base, "depth": "Base"})
    if severity is not None and len(entries) == 1:
        entries[0]["severity"] = severity  # Wazuh's severity is that of its one score
    return entries


def _references(vulnerability: dict, used: set) -> list | None:
    references = []
    for key in ("references", "bugzilla_references"):
        listed = text_list(vulnerability.get(key))
        if listed is not None and type(vulnerability.get(key)) is list:
            used.add(f"{PREFIX}.{key}")
            references += listed
    joined = vulnerability.get("reference")
    if type(joined) is str and joined:
        references += [cut(part.strip()) for part in joined.split(", ") if part.strip()]
    return list(dict.fromkeys(references)) or None


def _package(vulnerability: dict, used: set) -> list | None:
    package = vulnerability.get("package")
    if type(package) is not dict:
        return None
    base = f"{PREFIX}.package."
    affected = {}
    for key in ("name", "version", "architecture"):
        value = text_at(package, key, base + key, used)
        if value is not None:
            affected[key] = value
    if "name" not in affected or "version" not in affected:  # both required by OCSF
        used.difference_update({base + "name", base + "version", base + "architecture"})
        return None
    condition = package.get("condition")
    if type(condition) is str and condition.startswith(_FIXED_BEFORE) and len(condition) > len(_FIXED_BEFORE):
        affected["fixed_in_version"] = cut(condition[len(_FIXED_BEFORE) :])
    return [affected]


def map_vulnerabilities(alert: dict, used: set) -> list | None:
    """``[vulnerability]`` from ``data.vulnerability``, or None when it has no CVE id."""
    data = alert.get("data")
    vulnerability = data.get("vulnerability") if type(data) is dict else None
    if type(vulnerability) is not dict:
        return None
    cve_id = text_at(vulnerability, "cve", f"{PREFIX}.cve", used)
    if cve_id is None:
        return None
    cve = {"uid": cve_id}
    severity = text_at(vulnerability, "severity", f"{PREFIX}.severity", used)
    cvss = _cvss(vulnerability, severity, used)
    if cvss:
        cve["cvss"] = cvss
    cwe = text_at(vulnerability, "cwe_reference", f"{PREFIX}.cwe_reference", used)
    if cwe is not None:
        cve["cwe"] = {"uid": cwe}
    created = _date_ms(vulnerability.get("published"))
    if created is not None:
        cve["created_time"] = created
    modified = _date_ms(vulnerability.get("updated"))
    if modified is not None:
        cve["modified_time"] = modified
    result = {"cve": cve}
    title = text_at(vulnerability, "title", f"{PREFIX}.title", used)
    if title is not None:
        result["title"] = title
    for key in ("description", "rationale"):
        desc = text_at(vulnerability, key, f"{PREFIX}.{key}", used)
        if desc is not None:
            result["desc"] = desc
            break
    if severity is not None:
        result["severity"] = severity
    references = _references(vulnerability, used)
    if references is not None:
        result["references"] = references
    packages = _package(vulnerability, used)
    if packages is not None:
        result["affected_packages"] = packages
    return [result]
