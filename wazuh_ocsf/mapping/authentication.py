"""Wazuh login alert → OCSF 1.1.0 Authentication (class 3002), with the ``host`` profile.

Activity and status: Windows logon events by ID (4624 Logon/Success, 4625 Logon/Failure,
4634 and 4647 Logoff/Success, 4648 Logon/Success); other alerts are logons whose status
comes from the rule groups (``authentication_success`` → Success; ``authentication_failed``,
``authentication_failures``, ``invalid_login``, ``win_authentication_failed`` → Failure).

``user`` is the account the login was for (:func:`routing.authenticated_user`: Windows
``targetUserName`` with its domain and SID, else ``dstuser``, ``srcuser``, ``user``);
``actor.user`` the Windows subject that asked for it; ``src_endpoint`` ``srcip``/``srcport``
(Windows ``ipAddress``/``ipPort``, ``workstationName``); ``dst_endpoint`` ``dstip``/``dstport``;
Windows ``logonType`` → ``logon_type_id``, ``authenticationPackageName`` → ``auth_protocol``,
``status`` → ``status_code``, ``targetLogonId`` → ``session.uid``; the syslog program
(``sshd``) → ``service``. The agent is ``device``, and ``dst_endpoint`` unless the alert has a
``dstip`` (named by the Windows ``computer`` where there is one). As an activity it has no finding:
``metadata.uid`` is the unique ``<node>:<id>:<epoch ms>``; the rule stays in ``unmapped`` but
for its description (``message``).
"""

from __future__ import annotations

from wazuh_ocsf.class_facts import CLASSES
from wazuh_ocsf.config import AUTHENTICATION
from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping.base import (
    PROFILE_HOST,
    add_observables_and_unmapped,
    base_event,
    make_finding_uid,
    map_device,
)
from wazuh_ocsf.mapping.common import as_int, as_text
from wazuh_ocsf.mapping.observables import is_ip
from wazuh_ocsf.mapping.routing import (
    WINDOWS_LOGON_EVENTS,
    authenticated_user,
    is_authentication,
    windows_event_id,
    windows_eventdata,
)

CLASS_UID = AUTHENTICATION
CLASS_NAME = CLASSES[CLASS_UID].name
CATEGORY = CLASSES[CLASS_UID].category
LOGON = CLASSES[CLASS_UID].activity(1)
SUCCESS, FAILURE, STATUS_UNKNOWN = (CLASSES[CLASS_UID].status(i) for i in (1, 2, 0))
SUCCESS_GROUPS = frozenset({"authentication_success"})
FAILURE_GROUPS = frozenset(
    {"authentication_failed", "authentication_failures", "invalid_login", "win_authentication_failed"}
)
#: Windows logon types, which OCSF's logon_type_id copies number for number.
LOGON_TYPES = {
    2: "Interactive",
    3: "Network",
    4: "Batch",
    5: "OS Service",
    7: "Unlock",
    8: "Network Cleartext",
    9: "New Credentials",
    10: "Remote Interactive",
    11: "Cached Interactive",
    12: "Cached Remote Interactive",
    13: "Cached Unlock",
}
#: Windows authenticationPackageName → OCSF auth_protocol_id (others: 99 Other, the name kept).
AUTH_PROTOCOLS = {"NTLM": 1, "Kerberos": 2}
_NO_VALUE = ("", "-", "S-1-0-0")  # Windows: no account; S-1-0-0 is the NULL SID


def _text(obj: dict | None, key: str, path: str, used: set) -> str | None:
    """``obj[key]`` when it names something (not empty, ``-`` or the NULL SID); marks ``path`` used."""
    value = obj.get(key) if obj is not None else None
    if type(value) is not str or value in _NO_VALUE:
        return None
    text = as_text(value)
    if len(text) == len(value):
        used.add(path)
    return text


def _endpoint(obj: dict | None, ip_key: str, port_key: str, path: str, used: set) -> dict | None:
    if obj is None:
        return None
    ip = obj.get(ip_key)
    if type(ip) is not str or not is_ip(ip):
        return None
    endpoint = {"ip": ip}
    used.add(f"{path}.{ip_key}")
    port = as_int(obj.get(port_key), 1, 65535)  # Windows writes "0" for "no port"
    if port is not None:
        endpoint["port"] = port
        if type(obj[port_key]) is int:
            used.add(f"{path}.{port_key}")
    return endpoint


def _outcome(alert: dict, event_id: str | None) -> tuple:
    if event_id in WINDOWS_LOGON_EVENTS:
        return WINDOWS_LOGON_EVENTS[event_id]
    groups = alert["rule"].get("groups")
    groups = {g for g in groups if type(g) is str} if type(groups) is list else set()
    if not FAILURE_GROUPS.isdisjoint(groups):
        return LOGON, FAILURE
    if not SUCCESS_GROUPS.isdisjoint(groups):
        return LOGON, SUCCESS
    return LOGON, STATUS_UNKNOWN


def _windows(event: dict, eventdata: dict, used: set) -> None:
    """The Windows eventdata attributes: domain and SID, subject, logon type, package, status, session."""
    base = "data.win.eventdata"
    user = event["user"]
    domain = _text(eventdata, "targetDomainName", base + ".targetDomainName", used)
    if domain is not None:
        user["domain"] = domain
    sid = _text(eventdata, "targetUserSid", base + ".targetUserSid", used)
    if sid is not None:
        user["uid"] = sid
    subject = {}
    for key, attr in (("subjectUserName", "name"), ("subjectDomainName", "domain"), ("subjectUserSid", "uid")):
        value = _text(eventdata, key, f"{base}.{key}", used)
        if value is not None:
            subject[attr] = value
    if "name" in subject or "uid" in subject:
        event["actor"] = {"user": subject}
    else:
        used.difference_update({f"{base}.subjectDomainName", f"{base}.subjectUserSid"})
    logon_type = as_int(eventdata.get("logonType"))
    if logon_type in LOGON_TYPES:
        event["logon_type_id"], event["logon_type"] = logon_type, LOGON_TYPES[logon_type]
    package = _text(eventdata, "authenticationPackageName", base + ".authenticationPackageName", used)
    if package is not None:
        event["auth_protocol_id"] = AUTH_PROTOCOLS.get(package, 99)
        event["auth_protocol"] = package
    status = _text(eventdata, "status", base + ".status", used)
    if status is not None:
        event["status_code"] = status
    session = _text(eventdata, "targetLogonId", base + ".targetLogonId", used)
    if session is not None:
        event["session"] = {"uid": session}


def map_authentication(
    alert: dict, rule: dict, epoch_ms: int, offset: int | None, product_version: str | None, attack_version: str | None
) -> dict:
    """A checked login alert → Authentication event (AlertError for others)."""
    if not is_authentication(alert):
        raise AlertError("not a login alert: Authentication needs an authentication rule group and a user name")
    event_id = windows_event_id(alert)
    activity, status = _outcome(alert, event_id)
    used = set()
    event = base_event(
        alert, rule, epoch_ms, offset, CLASS_UID, CLASS_NAME, product_version, used,
        category=CATEGORY, activity=activity, risk_score=False, event_uid=make_finding_uid(alert, epoch_ms),
    )
    event["status_id"], event["status"] = status
    name, path = authenticated_user(alert)
    event["user"] = {"name": as_text(name)}
    if len(event["user"]["name"]) == len(name):
        used.add(path)
    data = alert.get("data")
    data = data if type(data) is dict else None
    _, eventdata = windows_eventdata(alert)
    src = _endpoint(data, "srcip", "srcport", "data", used)
    if src is None and eventdata is not None:
        src = _endpoint(eventdata, "ipAddress", "ipPort", "data.win.eventdata", used)
    workstation = _text(eventdata, "workstationName", "data.win.eventdata.workstationName", used)
    if workstation is not None:
        src = src or {}
        src["name"] = workstation
    if src:
        event["src_endpoint"] = src
    device = map_device(alert.get("agent"), used)
    dst = _endpoint(data, "dstip", "dstport", "data", used)
    if dst is None:  # the host logged on to: the agent (OCSF needs dst_endpoint or service)
        dst = {key: device[key] for key in ("uid", "name", "ip") if key in device}
        system, _ = windows_eventdata(alert)
        computer = _text(system, "computer", "data.win.system.computer", used)
        if computer is not None:
            dst["name"] = computer
    event["dst_endpoint"] = dst
    if eventdata is not None:
        _windows(event, eventdata, used)
    predecoder = alert.get("predecoder")
    program = _text(predecoder if type(predecoder) is dict else None, "program_name", "predecoder.program_name", used)
    if program is not None:
        event["service"] = {"name": program}
    event["device"] = device
    event["metadata"]["profiles"] = [PROFILE_HOST]
    return add_observables_and_unmapped(event, alert, used)
