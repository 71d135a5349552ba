"""Wazuh alert → OCSF 1.1.0 Detection Finding (class 2004), with the ``host`` profile.

The agent becomes ``device`` (so ``metadata.profiles`` is ``["host"]`` whenever there is an
agent) as well as ``resources[0]``, unless the alert is about something else (a cloud or
SaaS module, remote syslog: :mod:`~wazuh_ocsf.mapping.subject`); the finding's rule, ATT&CK and data sources go into
``finding_info``; ``evidences`` holds the endpoints, user, file and process the alert names.
Detection Finding 1.1.0 has no ``compliance``/``nist``: those rule tags stay in ``unmapped``.
"""

from __future__ import annotations

from wazuh_ocsf.class_facts import CLASSES
from wazuh_ocsf.config import DETECTION_FINDING
from wazuh_ocsf.mapping import subject
from wazuh_ocsf.mapping.base import base_event, finding_info
from wazuh_ocsf.mapping.event_code import add_event_code
from wazuh_ocsf.mapping.evidences import map_evidences
from wazuh_ocsf.mapping.observables import add_observables
from wazuh_ocsf.mapping.unmapped import map_unmapped, with_parents
from wazuh_ocsf.mapping.vulnerabilities import map_vulnerabilities

CLASS_UID = DETECTION_FINDING
CLASS_NAME = CLASSES[CLASS_UID].name
STATUS_NEW = CLASSES[CLASS_UID].status(1)


def map_detection_finding(
    alert: dict, rule: dict, epoch_ms: int, offset: int | None, product_version: str | None, attack_version: str | None
) -> dict:
    """A checked alert (see ``base.parse_alert``) → Detection Finding event."""
    used = set()
    event = base_event(alert, rule, epoch_ms, offset, CLASS_UID, CLASS_NAME, product_version, used)
    add_event_code(event, alert)
    event["status_id"], event["status"] = STATUS_NEW
    event["finding_info"] = finding_info(alert, rule, epoch_ms, attack_version, used)
    subject.add_subject(event, alert, used, device=True)
    vulnerabilities = map_vulnerabilities(alert, used)
    if vulnerabilities is not None:
        event["vulnerabilities"] = vulnerabilities
    evidences = map_evidences(alert)
    if evidences is not None:
        event["evidences"] = evidences
    # Only the vulnerability paths lie below objects other than USED_PARENTS.
    unmapped = map_unmapped(alert, used, with_parents(used)) if vulnerabilities else map_unmapped(alert, used)
    if unmapped is not None:
        event["unmapped"] = unmapped
    return add_observables(event, alert)

