"""Wazuh alert → OCSF 1.1.0 Security Finding (class 2001), the default class.

Security Finding is what the public Wazuh → Security Lake guide registers. It is deprecated
in OCSF 1.1.0 in favour of Detection Finding (2004), but Security Lake custom sources are
registered per class, so it stays the default for compatibility.
"""

from __future__ import annotations

from wazuh_ocsf.class_facts import CLASSES
from wazuh_ocsf.config import SECURITY_FINDING
from wazuh_ocsf.mapping import subject
from wazuh_ocsf.mapping.base import base_event, data_sources, finding_parts
from wazuh_ocsf.mapping.compliance import map_cis_csc, map_compliance
from wazuh_ocsf.mapping.compliance_finding import check_compliance
from wazuh_ocsf.mapping.event_code import add_event_code
from wazuh_ocsf.mapping.malware import map_malware
from wazuh_ocsf.mapping.mitre import map_attacks
from wazuh_ocsf.mapping.module_evidence import add_finding_attributes
from wazuh_ocsf.mapping.observables import add_observables
from wazuh_ocsf.mapping.unmapped import map_unmapped, with_parents
from wazuh_ocsf.mapping.vulnerabilities import map_vulnerabilities

CLASS_UID = SECURITY_FINDING
CLASS_NAME = CLASSES[CLASS_UID].name
STATE_NEW = CLASSES[CLASS_UID].state(1)


def map_security_finding(
    alert: dict, rule: dict, epoch_ms: int, offset: int | None, product_version: str | None, attack_version: str | None
) -> dict:
    """A checked alert (see ``base.parse_alert``) → Security Finding event."""
    used = set()
    event = base_event(alert, rule, epoch_ms, offset, CLASS_UID, CLASS_NAME, product_version, used)
    add_event_code(event, alert)
    event["state_id"], event["state"] = STATE_NEW
    uid, title, types, analytic = finding_parts(alert, rule, epoch_ms, used)
    finding = {"uid": uid, "title": title}
    if types is not None:
        finding["types"] = types
    event["finding"] = finding
    if analytic is not None:
        event["analytic"] = analytic
    attacks = map_attacks(rule.get("mitre"), attack_version, used)
    if attacks:
        event["attacks"] = attacks
    data = alert.get("data")
    check = check_compliance(alert) if type(data) is dict and ("sca" in data or "cis" in data) else None
    compliance = map_compliance(rule, used, check)
    if compliance is not None:
        event["compliance"] = compliance
    cis_csc = map_cis_csc(rule, used)
    if cis_csc is not None:
        event["cis_csc"] = cis_csc
    vulnerabilities = map_vulnerabilities(alert, used)
    if vulnerabilities is not None:
        event["vulnerabilities"] = vulnerabilities
    malware = map_malware(alert)
    if malware is not None:
        event["malware"] = malware
    sources = data_sources(alert, used)
    if sources is not None:
        event["data_sources"] = sources
    subject.add_subject(event, alert, used, device=False)
    if type(data) is dict:
        add_finding_attributes(event, data)  # CloudTrail's api, Sysmon's process
    # Only the vulnerability paths lie below objects other than USED_PARENTS.
    unmapped = map_unmapped(alert, used, with_parents(used)) if vulnerabilities else map_unmapped(alert, used)
    if unmapped is not None:
        event["unmapped"] = unmapped
    return add_observables(event, alert)

