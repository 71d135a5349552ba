"""``auto`` routing: which OCSF class fits a Wazuh alert, from its rule groups and fields.

The table (README "Routing" shows it too), tried in this order; the first that fits wins:

============================  ======================================================================
class                         an alert fits when
============================  ======================================================================
Vulnerability Finding (2002)  ``data.vulnerability`` is an object with a ``cve`` (vulnerability
                              detector, 4.7 and 4.8+ shapes)
Compliance Finding (2003)     ``data.sca`` is a check result (``type`` ``check``, a ``check`` with an
                              ``id`` or ``title``) or ``data.cis`` has a ``rule_title`` (CIS-CAT)
File System Activity (1001)   ``syscheck`` has a ``path`` and an ``event`` added/modified/deleted, and
                              the alert an agent (the device OCSF requires)
Authentication (3002)         a rule group of :data:`AUTHENTICATION_GROUPS` or a Windows logon event
                              (:data:`WINDOWS_LOGON_EVENTS`), a user name and an agent (OCSF
                              requires ``user`` and a ``dst_endpoint``: the agent's host)
============================  ======================================================================

An alert no route takes, or whose route is not active (its class has no destination), goes
to the finding class. The predicates are the exact conditions under which each class's
mapper can fill the attributes OCSF requires, so a routed event is always valid; each
routed mapper checks its own predicate again and raises AlertError for an alert that does
not fit. Standard library only, no imports beyond :mod:`wazuh_ocsf.config`, the class facts
and the mapping base: the hook loads this module only when routing is on.
"""

from __future__ import annotations

from wazuh_ocsf.class_facts import CLASSES
from wazuh_ocsf.config import AUTHENTICATION, COMPLIANCE_FINDING, FILE_ACTIVITY, VULNERABILITY_FINDING
from wazuh_ocsf.mapping.base import map_device

#: Wazuh's rule groups for logins (ruleset 4.x: sshd, PAM, su, Windows, web and app logins).
AUTHENTICATION_GROUPS = frozenset(
    {
        "authentication_success",
        "authentication_failed",
        "authentication_failures",
        "invalid_login",
        "win_authentication_failed",
    }
)
#: Windows Security events of logon and logoff: event ID → (activity, status), as OCSF pairs.
WINDOWS_LOGON_EVENTS = {
    event_id: (CLASSES[AUTHENTICATION].activity(activity_id), CLASSES[AUTHENTICATION].status(status_id))
    for event_id, activity_id, status_id in (
        ("4624", 1, 1),  # Logon, Success
        ("4625", 1, 2),  # Logon, Failure
        ("4634", 2, 1),  # Logoff, Success
        ("4647", 2, 1),
        ("4648", 1, 1),
    )
}
FIM_EVENTS = ("added", "modified", "deleted")
_NO_USER = ("", "-")  # Windows writes "-" for "no account"


def _object(parent: object, key: str) -> dict | None:
    value = parent.get(key) if type(parent) is dict else None
    return value if type(value) is dict else None


def _text(obj: dict | None, key: str) -> str | None:
    value = obj.get(key) if obj is not None else None
    return value if type(value) is str and value else None


def windows_eventdata(alert: dict) -> tuple:
    """``(data.win.system, data.win.eventdata)`` of a Windows eventchannel alert, each None if absent."""
    win = _object(_object(alert, "data"), "win")
    return _object(win, "system"), _object(win, "eventdata")


def windows_event_id(alert: dict) -> str | None:
    """``data.win.system.eventID`` as text (``"4625"``), or None."""
    system, _ = windows_eventdata(alert)
    value = system.get("eventID") if system is not None else None
    if type(value) is int:
        return str(value)
    return value if type(value) is str and value else None


def authenticated_user(alert: dict) -> tuple | None:
    """The account a login was for: ``(name, alert path)``, or None.

    Windows ``targetUserName``; else ``data.dstuser`` (sshd "Accepted … for <dstuser>"), else
    ``data.srcuser`` (sshd "Invalid user <srcuser>"), else ``data.user``.
    """
    _, eventdata = windows_eventdata(alert)
    name = _text(eventdata, "targetUserName")
    if name is not None and name not in _NO_USER:
        return name, "data.win.eventdata.targetUserName"
    data = _object(alert, "data")
    for key in ("dstuser", "srcuser", "user"):
        name = _text(data, key)
        if name is not None and name not in _NO_USER:
            return name, "data." + key
    return None


def is_vulnerability(alert: dict) -> bool:
    """A vulnerability-detector alert with a CVE id."""
    data = alert.get("data")
    if type(data) is not dict or "vulnerability" not in data:  # most alerts: one C check
        return False
    return _text(_object(data, "vulnerability"), "cve") is not None


def is_compliance(alert: dict) -> bool:
    """An SCA check result, or a CIS-CAT result with a rule title."""
    data = _object(alert, "data")
    if data is None or ("sca" not in data and "cis" not in data):  # most alerts: two C checks
        return False
    sca = _object(data, "sca")
    if sca is not None and sca.get("type") == "check":
        check = _object(sca, "check")
        return check is not None and (_text(check, "title") is not None or _text(check, "id") is not None)
    return _text(_object(data, "cis"), "rule_title") is not None


def is_file_activity(alert: dict) -> bool:
    """A FIM alert of a file or registry entry added, modified or deleted, on an agent."""
    syscheck = _object(alert, "syscheck")
    return (
        syscheck is not None
        and _text(syscheck, "path") is not None
        and syscheck.get("event") in FIM_EVENTS
        and map_device(alert.get("agent"), set()) is not None
    )


def is_authentication(alert: dict) -> bool:
    """A login alert (rule group or Windows logon event) that names the account, on an agent."""
    groups = alert["rule"].get("groups") if type(alert.get("rule")) is dict else None
    in_group = False
    if type(groups) is list:
        try:
            in_group = not AUTHENTICATION_GROUPS.isdisjoint(groups)  # no generator for the usual list of str
        except TypeError:  # an unhashable member (a list, an object): skip the members that are not str
            in_group = not AUTHENTICATION_GROUPS.isdisjoint(g for g in groups if type(g) is str)
    if not in_group and windows_event_id(alert) not in WINDOWS_LOGON_EVENTS:
        return False
    return authenticated_user(alert) is not None and map_device(alert.get("agent"), set()) is not None


#: (class_uid, predicate) in routing order.
ROUTES = (
    (VULNERABILITY_FINDING, is_vulnerability),
    (COMPLIANCE_FINDING, is_compliance),
    (FILE_ACTIVITY, is_file_activity),
    (AUTHENTICATION, is_authentication),
)


def fitting_class(alert: dict) -> int | None:
    """The routed class that fits ``alert`` (first in :data:`ROUTES`), or None."""
    if type(alert) is not dict:
        return None
    for class_uid, fits in ROUTES:
        if fits(alert):
            return class_uid
    return None


def route(alert: object, finding_class: int, routes: tuple) -> int:
    """The class ``alert`` goes to: the first route of :data:`ROUTES` that fits it and is in
    ``routes`` (the active ones), else ``finding_class``."""
    if type(alert) is not dict:
        return finding_class
    for class_uid, fits in ROUTES:
        if class_uid in routes and fits(alert):
            return class_uid
    return finding_class
