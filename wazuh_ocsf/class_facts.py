"""What OCSF 1.1.0 fixes for each class wazuh-ocsf writes: names, category, enumerations.

One table for the three places that need these facts: the mappers build every event's
classification and metadata from it, the spool line leaves out of each line what follows
from it (:mod:`wazuh_ocsf.spool.line`), and the flusher's conversion puts those attributes
back (:mod:`wazuh_ocsf.flush.arrow_schema`). :func:`derived_attributes` lists, per class, every
attribute that is either a constant of the class or a name that follows from an id.

The hook imports this module: standard library only, no imports beyond the class uids.
"""

from __future__ import annotations

from wazuh_ocsf.config import (
    AUTHENTICATION,
    COMPLIANCE_FINDING,
    DETECTION_FINDING,
    FILE_ACTIVITY,
    SECURITY_FINDING,
    VULNERABILITY_FINDING,
)

OCSF_VERSION = "1.1.0"
PRODUCT_NAME = "Wazuh"
VENDOR_NAME = "Wazuh, Inc."
PRODUCT_LANG = "en"
LOG_NAME = "Security events"
LOG_PROVIDER = "Wazuh"

#: OCSF ``severity_id`` → ``severity`` (the ids the mappers emit).
SEVERITIES = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}

FINDINGS = (2, "Findings")


class ClassFacts:
    """One class: its name, category, and the ``activity``, ``status`` and ``state`` names by id.

    ``statuses``/``states`` are empty for a class whose events carry no such attribute.
    """

    __slots__ = ("activities", "category", "name", "states", "statuses")

    def __init__(self, name: str, category: tuple, activities: dict, *, statuses=None, states=None) -> None:
        self.name = name
        self.category = category  # (category_uid, category_name)
        self.activities = activities  # activity_id → activity_name
        self.statuses = statuses or {}  # status_id → status
        self.states = states or {}  # state_id → state

    def activity(self, activity_id: int) -> tuple:
        """``(activity_id, activity_name)``."""
        return activity_id, self.activities[activity_id]

    def status(self, status_id: int) -> tuple:
        """``(status_id, status)``."""
        return status_id, self.statuses[status_id]

    def state(self, state_id: int) -> tuple:
        """``(state_id, state)``."""
        return state_id, self.states[state_id]


#: class_uid → its facts, for every class of :data:`wazuh_ocsf.config.CLASS_NAMES`.
CLASSES = {
    SECURITY_FINDING: ClassFacts("Security Finding", FINDINGS, {1: "Create"}, states={1: "New"}),
    DETECTION_FINDING: ClassFacts("Detection Finding", FINDINGS, {1: "Create"}, statuses={1: "New"}),
    VULNERABILITY_FINDING: ClassFacts(
        "Vulnerability Finding", FINDINGS, {1: "Create", 3: "Close"}, statuses={1: "New", 4: "Resolved"}
    ),
    COMPLIANCE_FINDING: ClassFacts("Compliance Finding", FINDINGS, {1: "Create"}, statuses={1: "New"}),
    FILE_ACTIVITY: ClassFacts("File System Activity", (1, "System Activity"), {1: "Create", 3: "Update", 4: "Delete"}),
    AUTHENTICATION: ClassFacts(
        "Authentication",
        (3, "Identity & Access Management"),
        {1: "Logon", 2: "Logoff"},
        statuses={0: "Unknown", 1: "Success", 2: "Failure"},
    ),
}

#: The metadata every event carries whatever its class: ``(path below metadata, value)``.
METADATA_CONSTANTS = (
    (("version",), OCSF_VERSION),
    (("product", "name"), PRODUCT_NAME),
    (("product", "vendor_name"), VENDOR_NAME),
    (("product", "lang"), PRODUCT_LANG),
    (("log_name",), LOG_NAME),
    (("log_provider",), LOG_PROVIDER),
)

_DERIVED: dict = {}


def derived_attributes(class_uid: int) -> tuple:
    """The attributes of ``class_uid``'s events that follow from the class and the event's ids.

    Each is ``(path, source, values)``: ``path`` the attribute (a tuple of names), ``source``
    None for a constant (``values`` is the value) or the top-level id attribute it follows
    from (``values`` maps each id to the value). ``type_uid`` and ``type_name`` follow from
    ``activity_id``. KeyError for a class not in :data:`CLASSES`.
    """
    found = _DERIVED.get(class_uid)
    if found is None:
        facts = CLASSES[class_uid]
        found = [
            (("category_uid",), None, facts.category[0]),
            (("category_name",), None, facts.category[1]),
            (("class_name",), None, facts.name),
            (("activity_name",), "activity_id", facts.activities),
            (("type_uid",), "activity_id", {i: class_uid * 100 + i for i in facts.activities}),
            (("type_name",), "activity_id", {i: f"{facts.name}: {name}" for i, name in facts.activities.items()}),
            (("severity",), "severity_id", SEVERITIES),
        ]
        if facts.statuses:
            found.append((("status",), "status_id", facts.statuses))
        if facts.states:
            found.append((("state",), "state_id", facts.states))
        found.extend((("metadata", *path), None, value) for path, value in METADATA_CONSTANTS)
        found = _DERIVED[class_uid] = tuple(found)
    return found
