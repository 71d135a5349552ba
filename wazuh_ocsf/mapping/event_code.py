"""``metadata.event_code``: the source's own id for the kind of event, where it has one.

OCSF: "The Event ID or Code that the product uses to describe the event". Windows (and
Sysmon) give ``eventID``; the other sources that name the kind of event in a field of their
own: CloudTrail's ``eventName``, Office 365's ``Operation``, GitHub's ``action``, GCP audit
logs' ``methodName`` and Linux audit's record ``type``. The value is copied (the field stays
in ``unmapped`` as well).
"""

from __future__ import annotations

from wazuh_ocsf.mapping.common import as_text

# Paths below ``data``, first match wins.
SOURCES = (
    ("win", "system", "eventID"),
    ("aws", "eventName"),
    ("office365", "Operation"),
    ("github", "action"),
    ("gcp", "protoPayload", "methodName"),
    ("audit", "type"),
)
_ROOTS = frozenset(path[0] for path in SOURCES)


def event_code(alert: dict) -> str | None:
    """The source's event id or code (text), else None."""
    data = alert.get("data")
    if type(data) is not dict or data.keys().isdisjoint(_ROOTS):  # one C call for most alerts
        return None
    for path in SOURCES:
        value = data
        for key in path:
            value = value.get(key) if type(value) is dict else None
        if type(value) in (str, int):
            code = as_text(value)
            if code is not None:
                return code
    return None


def add_event_code(event: dict, alert: dict) -> None:
    """``event["metadata"]["event_code"]`` from :func:`event_code`, when there is one."""
    code = event_code(alert)
    if code is not None:
        event["metadata"]["event_code"] = code
