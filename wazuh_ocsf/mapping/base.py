"""What every class mapper shares: the alert's checks, ``finding_uid`` and the common fields.

:func:`parse_alert` does the only checks that can reject an alert (an object, a ``rule``
object, a parseable ``timestamp``). :func:`base_event` builds the attributes both classes
have, in one place, and records in ``used`` the alert paths they hold exactly.
"""

from __future__ import annotations

from wazuh_ocsf import json_codec
from wazuh_ocsf.class_facts import CLASSES
from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping import common
from wazuh_ocsf.mapping.common import as_int, as_text, cut, severity, text_list
from wazuh_ocsf.mapping.mitre import map_attacks
from wazuh_ocsf.mapping.observables import add_observables, is_ip
from wazuh_ocsf.mapping.timestamps import parse_timestamp
from wazuh_ocsf.mapping.unmapped import map_unmapped, with_parents

MANAGER_AGENT_ID = "000"


def parse_alert(alert: object) -> tuple:
    """``alert`` → ``(alert, rule, epoch_ms, offset_minutes)``, or AlertError naming what is wrong.

    A dict subclass (an ``OrderedDict`` from ``object_pairs_hook``) at the top or as ``rule``
    is copied into a plain dict; deeper ones are kept whole in ``unmapped``.
    """
    if type(alert) is not dict:
        if not isinstance(alert, dict):
            raise AlertError(f"alert is not a JSON object (got {type(alert).__name__})")
        alert = dict(alert)
    rule = alert.get("rule")
    if type(rule) is not dict:
        if rule is None:
            raise AlertError("alert has no rule object")
        if not isinstance(rule, dict):
            raise AlertError(f"alert's rule is not an object (got {type(rule).__name__})")
        alert = dict(alert)  # a copy: the caller's alert is left alone
        rule = alert["rule"] = dict(rule)
    if "timestamp" not in alert:
        raise AlertError("alert has no timestamp")
    epoch_ms, offset = parse_timestamp(alert["timestamp"])
    return alert, rule, epoch_ms, offset


def _node(alert: dict) -> str:
    cluster = alert.get("cluster")
    if type(cluster) is dict:
        node = as_text(cluster.get("node"))
        if node:
            return node
    manager = alert.get("manager")
    if type(manager) is dict:
        node = as_text(manager.get("name"))
        if node:
            return node
    return ""


def _alert_id(alert: dict) -> str:
    alert_id = as_text(alert.get("id"))
    if alert_id:
        return alert_id
    # No usable id: a checksum of the canonical JSON (keys sorted, compact) is the same for
    # the same alert whichever path read it, and cheap. crc32, not a cryptographic hash: it
    # only has to tell apart alerts of one node within one millisecond.
    import zlib  # only alerts without an id pay for it

    try:
        canonical = json_codec.dumps(alert, sort_keys=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        canonical = repr(alert)
    return f"crc32-{zlib.crc32(canonical.encode('utf-8', 'surrogatepass')):08x}"


def make_finding_uid(alert: dict, epoch_ms: int) -> str:
    """``<node>:<id>:<epoch_ms>`` (see :func:`finding_uid`)."""
    # The usual alert inline (no cluster, a manager name and an id that are plain strings);
    # _node and _alert_id for the rest.
    node = None
    if "cluster" not in alert:
        manager = alert.get("manager")
        node = manager.get("name") if type(manager) is dict else None
    if type(node) is not str or not node or len(node) > common.MAX_STRING:
        node = _node(alert)
    alert_id = alert.get("id")
    if type(alert_id) is not str or not alert_id or len(alert_id) > common.MAX_STRING:
        alert_id = _alert_id(alert)
    uid = f"{node}:{alert_id}:{epoch_ms}"
    return uid if len(uid) <= common.MAX_STRING else cut(uid)


def finding_uid(alert: dict) -> str:
    """The finding's unique ID: ``<node>:<id>:<epoch ms>``.

    ``node`` is ``cluster.node``, else ``manager.name``, else empty: each cluster node fires
    its own alerts, and their ``id`` (``<epoch>.<offset in alerts.json>``) restarts with each
    log rotation, so only node + id + time is unique. ``time`` is the timestamp normalised to
    UTC epoch milliseconds, so ``+0000`` and ``Z`` spellings of one instant agree. Without a
    usable ``id`` it is ``crc32-<8 hex digits>`` of the alert's canonical JSON. Nothing here
    depends on how the alert was read (hook, backfill, follow). Raises AlertError for an
    alert that cannot be mapped at all.
    """
    alert, _rule, epoch_ms, _offset = parse_alert(alert)
    return make_finding_uid(alert, epoch_ms)


def text_at(obj: dict, key: str, path: str, used: set) -> str | None:
    """``obj[key]`` for a string attribute (see ``as_text``); ``path`` counts as used only when
    the value already was a string, so a converted value (a numeric ``rule.id``) stays in
    ``unmapped`` as well."""
    value = obj.get(key)
    if type(value) is not str:
        return as_text(value)
    if not value:
        return None
    used.add(path)
    return value if len(value) <= common.MAX_STRING else cut(value)


# The source's own time of the event, where the alert carries it (copied: it stays in
# unmapped too): syslog's header, the Windows event's, CloudTrail's, Office 365's.
_SOURCE_TIMES = (
    ("predecoder", "timestamp"),
    ("data", "win", "system", "systemTime"),
    ("data", "aws", "eventTime"),
    ("data", "office365", "CreationTime"),
)
_DATA_TIMES = tuple(path[1:] for path in _SOURCE_TIMES if path[0] == "data")
_DATA_TIME_ROOTS = frozenset(path[0] for path in _DATA_TIMES)


def _source_time(alert: dict) -> str | None:
    # The first of _SOURCE_TIMES that holds a non-empty string, without walking the
    # data.* paths of the many alerts whose data has none of their first keys.
    predecoder = alert.get("predecoder")
    if type(predecoder) is dict:
        value = predecoder.get("timestamp")
        if type(value) is str and value:
            return value
    data = alert.get("data")
    if type(data) is dict and not data.keys().isdisjoint(_DATA_TIME_ROOTS):
        for path in _DATA_TIMES:
            value = data
            for key in path:
                value = value.get(key) if type(value) is dict else None
            if type(value) is str and value:
                return value
    return None


def _original_time(alert: dict, used: set) -> str:
    """OCSF ``metadata.original_time``: "the original event time as reported by the event
    source", verbatim; the alert's own ``timestamp`` when the source gives none. With a
    source time, the alert's verbatim ``timestamp`` stays in ``unmapped`` (``time`` holds it
    in milliseconds)."""
    value = _source_time(alert)
    if value is None:
        value = alert["timestamp"]
    else:
        used.discard("timestamp")
    return value if len(value) <= common.MAX_STRING else cut(value)


def base_event(
    alert: dict,
    rule: dict,
    epoch_ms: int,
    offset: int | None,
    class_uid: int,
    class_name: str,
    product_version: str | None,
    used: set,
    *,
    category: tuple | None = None,
    activity: tuple | None = None,
    risk_score: bool = True,
    event_uid: str | None = None,
) -> dict:
    """The attributes every class has, classification first (dict order is output order).

    ``category`` defaults to the class's (:data:`wazuh_ocsf.class_facts.CLASSES`), ``activity``
    to its activity 1 (Create, for the finding classes). A class without ``risk_score`` leaves ``rule.level``
    in ``unmapped`` (severity is only its band); ``event_uid`` (the activity classes, which have
    no finding uid) replaces the alert id as ``metadata.uid``.
    """
    used.add("timestamp")
    level_value = rule.get("level")
    level = as_int(level_value)  # risk_score is an integer_t: int32
    if type(level_value) is int:
        severity_id, severity_name = severity(level_value)
        if level is not None and risk_score:
            used.add("rule.level")
    else:
        severity_id, severity_name = severity(as_int(level_value, common.INT64_MIN, common.INT64_MAX))
    if category is None or activity is None:
        facts = CLASSES[class_uid]
        category = category or facts.category
        activity = activity or facts.activity(1)
    activity_id, activity_name = activity
    event = {
        "activity_id": activity_id,
        "activity_name": activity_name,
        "category_uid": category[0],
        "category_name": category[1],
        "class_uid": class_uid,
        "class_name": class_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{class_name}: {activity_name}",
        "severity_id": severity_id,
        "severity": severity_name,
        "time": epoch_ms,
    }
    if offset is not None:
        event["timezone_offset"] = offset
    description = text_at(rule, "description", "rule.description", used)
    if description is not None:
        event["message"] = description
    # No ``count``: OCSF's is "the number of times that events in the same logical group
    # occurred during the event Start Time to End Time period", and ``rule.firedtimes`` is
    # analysisd's running per-rule counter since it started; it stays in ``unmapped``.
    if level is not None and risk_score:
        event["risk_score"] = level
    full_log = alert.get("full_log")
    if type(full_log) is str and full_log:
        event["raw_data"] = full_log if len(full_log) <= common.MAX_STRING else cut(full_log)
        used.add("full_log")
    metadata = {
        "version": common.OCSF_VERSION,
        "product": {"name": common.PRODUCT_NAME, "vendor_name": common.VENDOR_NAME, "lang": common.PRODUCT_LANG},
        "log_name": common.LOG_NAME,
        "log_provider": common.LOG_PROVIDER,
        "original_time": _original_time(alert, used),
    }
    if product_version:
        metadata["product"]["version"] = cut(product_version)
    if event_uid is not None:
        metadata["uid"] = event_uid
        if type(alert.get("id")) is str:
            used.add("id")  # part of event_uid
    else:
        uid = text_at(alert, "id", "id", used)
        if uid is not None:
            metadata["uid"] = uid
    event["metadata"] = metadata
    return event


def finding_parts(alert: dict, rule: dict, epoch_ms: int, used: set) -> tuple:
    """``(uid, title, types, analytic)`` of the finding: the same for both classes."""
    uid = make_finding_uid(alert, epoch_ms)
    rule_id = text_at(rule, "id", "rule.id", used)
    description = as_text(rule.get("description"))
    # finding.title is required; say what there is rather than leave the finding invalid.
    title = description or (f"Wazuh rule {rule_id}" if rule_id else "Wazuh alert")
    types = text_list(rule.get("groups"))
    if types is not None:
        used.add("rule.groups")
    analytic = {"type_id": 1, "type": "Rule"}
    if rule_id is not None:
        analytic["uid"] = rule_id
    if description is not None:
        analytic["name"] = description
    if types is not None:
        category = ", ".join(types)
        analytic["category"] = category if len(category) <= common.MAX_STRING else cut(category)
    if "uid" not in analytic and "name" not in analytic:
        analytic = None  # analytic needs a name or a uid
    return uid, title, types, analytic


def data_sources(alert: dict, used: set) -> list | None:
    """``location`` and ``decoder.name``, each as ``<alert path>:<value>``. The manager is not
    a data source but the detector: the finding classes put it in ``metadata.loggers``."""
    sources = []
    location = alert.get("location")
    if type(location) is str and location:
        sources.append(cut("location:" + location))
        used.add("location")
    decoder = alert.get("decoder")
    if type(decoder) is dict:
        name = decoder.get("name")
        if type(name) is str and name:
            sources.append(cut(f"decoder.name:{name}"))
            used.add("decoder.name")
    return sources or None


def agent_resource(agent: object, used: set) -> dict | None:
    """``agent`` → a ``resource_details`` (uid = agent.id, name = agent.name), or None."""
    if type(agent) is not dict:
        return None
    resource = {}
    uid = text_at(agent, "id", "agent.id", used)
    if uid is not None:
        resource["uid"] = uid
    name = text_at(agent, "name", "agent.name", used)
    if name is not None:
        resource["name"] = name
    if not resource:
        return None
    resource["type"] = "Wazuh manager (agent 000)" if uid == MANAGER_AGENT_ID else "Wazuh agent"
    return resource


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


def finding_info(alert: dict, rule: dict, epoch_ms: int, attack_version: str | None, used: set) -> dict:
    """``finding_info`` of the finding classes that have it: uid, title, types, analytic, ATT&CK,
    data sources (the title is the rule's description; a class may replace it)."""
    uid, title, types, analytic = finding_parts(alert, rule, epoch_ms, used)
    info = {"uid": uid, "title": title}
    if types is not None:
        info["types"] = types
    if analytic is not None:
        info["analytic"] = analytic
    attacks = map_attacks(rule.get("mitre"), attack_version, used)
    if attacks:
        info["attacks"] = attacks
    sources = data_sources(alert, used)
    if sources is not None:
        info["data_sources"] = sources
    return info


PROFILE_HOST = "host"


def add_host(event: dict, agent: object, used: set, *, resource: str | None = None) -> None:
    """The agent as ``device`` (with the host profile) and, for the finding classes, as the
    ``resource`` attribute named (``resource`` in 2002/2003)."""
    device = map_device(agent, used)
    if device is not None:
        event["device"] = device
        event["metadata"]["profiles"] = [PROFILE_HOST]
    if resource is not None:
        details = agent_resource(agent, used)
        if details is not None:
            event[resource] = details


def add_observables_and_unmapped(event: dict, alert: dict, used: set) -> dict:
    """The last attributes of a routed class's event: ``observables`` and ``unmapped`` (what no
    attribute holds, ``used`` paths at any depth); returns ``event``."""
    unmapped = map_unmapped(alert, used, with_parents(used))
    if unmapped is not None:
        event["unmapped"] = unmapped
    return add_observables(event, alert)
