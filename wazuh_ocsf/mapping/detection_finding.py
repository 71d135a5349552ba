"""Wazuh alert → OCSF 1.1.0 Detection Finding (class 2004), with the ``host`` profile.

The agent becomes ``device`` (so ``metadata.profiles`` is ``["host"]`` whenever there is an
agent) as well as ``resources[0]``; the finding's rule, ATT&CK and data sources go into
``finding_info``; ``evidences`` holds the endpoints, user, file and process the alert names.
Detection Finding 1.1.0 has no ``compliance``/``nist``: those rule tags stay in ``unmapped``.
"""

from __future__ import annotations

from wazuh_ocsf.mapping.base import MANAGER_AGENT_ID, agent_resource, base_event, data_sources, finding_parts
from wazuh_ocsf.mapping.common import as_text
from wazuh_ocsf.mapping.evidences import map_evidences
from wazuh_ocsf.mapping.mitre import map_attacks
from wazuh_ocsf.mapping.observables import is_ip, map_observables
from wazuh_ocsf.mapping.unmapped import map_unmapped

CLASS_UID = 2004
CLASS_NAME = "Detection Finding"
STATUS_NEW = (1, "New")
PROFILE_HOST = "host"
DEVICE_UNKNOWN = (0, "Unknown")
DEVICE_SERVER = (1, "Server")  # agent 000 is the manager itself, which runs on a Linux server


def map_device(agent: object, used: set) -> dict | None:
    """``agent`` → OCSF ``device`` (host profile), or None without an agent id, name or IP."""
    if type(agent) is not dict:
        return None
    device = {}
    agent_id = as_text(agent.get("id"))
    if agent_id is not None:
        device["uid"] = agent_id
    name = as_text(agent.get("name"))
    if name is not None:
        device["name"] = name
    ip = agent.get("ip")
    if type(ip) is str and is_ip(ip):
        device["ip"] = ip
        used.add("agent.ip")
    if not device:
        return None
    device["type_id"], device["type"] = DEVICE_SERVER if agent_id == MANAGER_AGENT_ID else DEVICE_UNKNOWN
    return device


def map_detection_finding(
    alert: dict, rule: dict, epoch_ms: int, offset: int | None, product_version: str | None, attack_version: str | None
) -> dict:
    """A checked alert (see ``base.parse_alert``) → Detection Finding event."""
    used = set()
    event = base_event(alert, rule, epoch_ms, offset, CLASS_UID, CLASS_NAME, product_version, used)
    event["status_id"], event["status"] = STATUS_NEW
    uid, title, types, analytic = finding_parts(alert, rule, epoch_ms, used)
    finding_info = {"uid": uid, "title": title}
    if types is not None:
        finding_info["types"] = types
    if analytic is not None:
        finding_info["analytic"] = analytic
    attacks = map_attacks(rule.get("mitre"), attack_version, used)
    if attacks:
        finding_info["attacks"] = attacks
    sources = data_sources(alert, used)
    if sources is not None:
        finding_info["data_sources"] = sources
    event["finding_info"] = finding_info
    agent = alert.get("agent")
    device = map_device(agent, used)
    if device is not None:
        event["device"] = device
        event["metadata"]["profiles"] = [PROFILE_HOST]
    resource = agent_resource(agent, used)
    if resource is not None:
        event["resources"] = [resource]
    evidences = map_evidences(alert)
    if evidences is not None:
        event["evidences"] = evidences
    observables = map_observables(alert)
    if observables is not None:
        event["observables"] = observables
    unmapped = map_unmapped(alert, used)
    if unmapped is not None:
        event["unmapped"] = unmapped
    return event
