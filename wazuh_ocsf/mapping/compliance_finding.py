"""Wazuh SCA and CIS-CAT check results → OCSF 1.1.0 Compliance Finding (class 2003).

SCA (``data.sca``, ``type`` ``check``): the policy is ``compliance.standards[0]``, the
check's ``compliance`` tags (``{"cis": "1.1.1", "pci_dss": "2.2"}``) add their standards
and ``requirements`` (``"pci_dss 2.2"``), ``control`` is the check id, ``status`` comes from
the result (passed → Pass, failed → Fail, anything else → Other, with the reason as
``status_detail``), ``remediation.desc`` is the check's remediation and
``finding_info`` has the check's title and description. CIS-CAT (``data.cis``): the
benchmark is the standard, ``rule_title`` the title, ``result`` the status. The rule that
fired is in ``finding_info`` as in Detection Finding; the rule's own compliance tags stay in
``unmapped``. The agent is ``device`` (host profile) and ``resource``.
"""

from __future__ import annotations

from wazuh_ocsf.class_facts import CLASSES
from wazuh_ocsf.config import COMPLIANCE_FINDING
from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping.base import add_host, add_observables_and_unmapped, base_event, finding_info, text_at
from wazuh_ocsf.mapping.common import as_text, cut
from wazuh_ocsf.mapping.routing import is_compliance

CLASS_UID = COMPLIANCE_FINDING
CLASS_NAME = CLASSES[CLASS_UID].name
STATUS_NEW = CLASSES[CLASS_UID].status(1)
# compliance.status_id from a check's result (SCA: passed/failed/not applicable; CIS-CAT:
# pass/fail/notchecked/error/unknown/informational).
_RESULTS = {"passed": (1, "Pass"), "pass": (1, "Pass"), "failed": (3, "Fail"), "fail": (3, "Fail")}
_OTHER = (99, "Other")




def _put(target: dict, attr: str, obj: dict, key: str, base: str, used: set) -> None:
    """``target[attr]`` = ``obj[key]`` as text, when there is one (``base + key`` marked used)."""
    text = text_at(obj, key, base + key, used)
    if text is not None:
        target[attr] = text


def _result(compliance: dict, obj: dict, base: str, used: set) -> None:
    """``compliance.status_id``/``status``/``status_code`` from ``obj["result"]``."""
    result = text_at(obj, "result", base + "result", used)
    if result is not None:
        compliance["status_id"], compliance["status"] = _RESULTS.get(result.lower(), _OTHER)
        compliance["status_code"] = result


def _sca(sca: dict, info: dict, used: set) -> tuple:
    """``(compliance, remediation)`` of an SCA check alert; fills ``info``."""
    check = sca["check"]
    base = "data.sca.check."
    standards, requirements = [], []
    policy = text_at(sca, "policy", "data.sca.policy", used) or text_at(sca, "policy_id", "data.sca.policy_id", used)
    standards.append(policy or "Wazuh SCA")
    tags = check.get("compliance")
    if type(tags) is dict and tags:
        exact = True
        for name, value in tags.items():
            values = value if type(value) is list else [value]
            texts = [as_text(item) for item in values]
            if type(name) is not str or not name or not texts or None in texts:
                exact = False
                continue
            standards.append(cut(name))
            requirements += [cut(f"{name} {text}") for text in texts]
            exact = exact and all(type(item) is str for item in values)
        if exact:
            used.add(base + "compliance")
    compliance = {"standards": list(dict.fromkeys(standards))}
    if requirements:
        compliance["requirements"] = requirements
    _put(compliance, "control", check, "id", base, used)
    _result(compliance, check, base, used)
    _put(compliance, "status_detail", check, "reason", base, used)
    _put(info, "title", check, "title", base, used)
    _put(info, "desc", check, "description", base, used)
    remediation = None
    fix = text_at(check, "remediation", base + "remediation", used)
    if fix is not None:
        remediation = {"desc": fix}
        references = check.get("references")
        if type(references) is str and references:
            remediation["references"] = [cut(ref.strip()) for ref in references.split(",") if ref.strip()]
    return compliance, remediation


def _cis(cis: dict, info: dict, used: set) -> tuple:
    """``(compliance, remediation)`` of a CIS-CAT alert; fills ``info``."""
    base = "data.cis."
    benchmark = text_at(cis, "benchmark", base + "benchmark", used)
    compliance = {"standards": [benchmark or "CIS-CAT"]}
    _put(compliance, "control", cis, "rule_ref", base, used)
    _result(compliance, cis, base, used)
    _put(info, "title", cis, "rule_title", base, used)
    _put(info, "desc", cis, "description", base, used)
    fix = text_at(cis, "remediation", base + "remediation", used)
    return compliance, ({"desc": fix} if fix is not None else None)


def map_compliance_finding(
    alert: dict, rule: dict, epoch_ms: int, offset: int | None, product_version: str | None, attack_version: str | None
) -> dict:
    """A checked SCA or CIS-CAT alert → Compliance Finding event (AlertError for others)."""
    if not is_compliance(alert):
        raise AlertError("not a compliance check alert: Compliance Finding needs data.sca (a check) or data.cis")
    used = set()
    event = base_event(alert, rule, epoch_ms, offset, CLASS_UID, CLASS_NAME, product_version, used, risk_score=False)
    event["status_id"], event["status"] = STATUS_NEW
    info = finding_info(alert, rule, epoch_ms, attack_version, used)
    data = alert["data"]
    sca = data.get("sca")
    if type(sca) is dict and sca.get("type") == "check":
        compliance, remediation = _sca(sca, info, used)
    else:
        compliance, remediation = _cis(data["cis"], info, used)
    event["finding_info"] = info
    event["compliance"] = compliance
    if remediation is not None:
        event["remediation"] = remediation
    add_host(event, alert.get("agent"), used, resource="resource")
    return add_observables_and_unmapped(event, alert, used)


def check_compliance(alert: dict) -> dict | None:
    """The ``compliance`` object of an SCA or CIS-CAT check alert (standards, control, status),
    None for other alerts: Security Finding has the same attribute. Values are copied (no
    path is marked used)."""
    if not is_compliance(alert):
        return None
    data = alert["data"]
    sca = data.get("sca")
    if type(sca) is dict and sca.get("type") == "check":
        return _sca(sca, {}, set())[0]
    return _cis(data["cis"], {}, set())[0]
