"""Wazuh FIM (syscheck) alert → OCSF 1.1.0 File System Activity (class 1001).

``syscheck.event`` added/modified/deleted → activity Create/Update/Delete. ``file`` is the
target: for Create the new file (``*_after``), for Update the file before the change
(``*_before``) with ``file_result`` the file after it, for Delete the last known state
(``*_before``, else the ``*_after`` Wazuh writes for deletions). Each holds path, name,
size, inode (``uid``), owner (``uname``/``uid``) and MD5/SHA-1/SHA-256 hashes; a Windows
registry key or value is a file of type Other named "Registry Key"/"Registry Value".
``syscheck.diff`` is ``file_diff``.

``actor`` (required by OCSF) is who-data's ``syscheck.audit`` user and process; without
who-data Wazuh does not know who changed the file, and ``actor.invoked_by`` says how the
change was seen (``wazuh-syscheckd (realtime)``). The agent is ``device``. An activity has
no finding: ``metadata.uid`` is the unique ``<node>:<id>:<epoch ms>`` the finding classes
use as finding uid; the rule stays in ``unmapped`` but for its description (``message``).
"""

from __future__ import annotations

from wazuh_ocsf.class_facts import CLASSES
from wazuh_ocsf.config import FILE_ACTIVITY
from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping.base import add_observables_and_unmapped, base_event, make_finding_uid, map_device, text_at
from wazuh_ocsf.mapping.common import INT32_MAX, INT64_MAX, as_int, as_text, basename, cut
from wazuh_ocsf.mapping.evidences import HASHES, HEX
from wazuh_ocsf.mapping.routing import is_file_activity

CLASS_UID = FILE_ACTIVITY
CLASS_NAME = CLASSES[CLASS_UID].name
CATEGORY = CLASSES[CLASS_UID].category
ACTIVITIES = {event: CLASSES[CLASS_UID].activity(i) for event, i in (("added", 1), ("modified", 3), ("deleted", 4))}
REGULAR_FILE = (1, "Regular File")
REGISTRY_KEY = (99, "Registry Key")
REGISTRY_VALUE = (99, "Registry Value")
DAEMON = "wazuh-syscheckd"


def _exact(syscheck: dict, key: str, used: set) -> str | None:
    return text_at(syscheck, key, "syscheck." + key, used)


def _file(syscheck: dict, suffix: str, used: set) -> dict:
    """The file as ``syscheck``'s ``*<suffix>`` fields describe it (suffix ``_before``/``_after``)."""
    path = syscheck["path"]
    if path[:5].upper() == "HKEY_":
        value_name = _exact(syscheck, "value_name", used)
        if value_name is not None:
            file = {"name": value_name, "path": cut(f"{path}\\{value_name}")}
            file["type_id"], file["type"] = REGISTRY_VALUE
        else:
            file = {"name": basename(path) or path, "path": _exact(syscheck, "path", used)}
            file["type_id"], file["type"] = REGISTRY_KEY
    else:
        file = {"name": basename(path) or path, "path": _exact(syscheck, "path", used)}
        file["type_id"], file["type"] = REGULAR_FILE
    file["name"] = cut(file["name"])
    size = as_int(syscheck.get("size" + suffix), 0, INT64_MAX)
    if size is not None:
        file["size"] = size
    inode = as_text(syscheck.get("inode" + suffix))
    if inode is not None:
        file["uid"] = inode
    owner = {}
    name = _exact(syscheck, "uname" + suffix, used)
    if name is not None:
        owner["name"] = name
    uid = _exact(syscheck, "uid" + suffix, used)
    if uid is not None:
        owner["uid"] = uid
    if owner:
        file["owner"] = owner
    hashes = []
    for key, algorithm_id, algorithm, length in HASHES:
        value = syscheck.get(key + suffix)
        if type(value) is str and len(value) == length and HEX.issuperset(value):
            hashes.append({"algorithm_id": algorithm_id, "algorithm": algorithm, "value": value})
            used.add(f"syscheck.{key}{suffix}")
    if hashes:
        file["hashes"] = hashes
    return file


def _has(syscheck: dict, suffix: str) -> bool:
    return any(key.endswith(suffix) for key in syscheck if type(key) is str)


def _actor(syscheck: dict, used: set) -> dict:
    """Who-data's user and process, else how the change was seen (``invoked_by``)."""
    actor = {}
    audit = syscheck.get("audit")
    if type(audit) is dict:
        user = audit.get("user")
        if type(user) is dict:
            found = {}
            for key, attr in (("name", "name"), ("id", "uid")):
                value = as_text(user.get(key))
                if value is not None:
                    found[attr] = value
                    if type(user[key]) is str:
                        used.add(f"syscheck.audit.user.{key}")
            if found:
                actor["user"] = found
        process = audit.get("process")
        pid = as_int(process.get("id"), 1, INT32_MAX) if type(process) is dict else None
        if pid is not None:
            found = {"pid": pid}
            exe = as_text(process.get("name"))
            if exe is not None:
                found["name"] = cut(basename(exe) or exe)
                found["file"] = {"name": found["name"], "path": exe}
                found["file"]["type_id"], found["file"]["type"] = REGULAR_FILE
                if type(process["name"]) is str:
                    used.add("syscheck.audit.process.name")
            actor["process"] = found
    if not actor:
        mode = as_text(syscheck.get("mode"))
        actor["invoked_by"] = f"{DAEMON} ({mode})" if mode else DAEMON
    return actor


def map_file_activity(
    alert: dict, rule: dict, epoch_ms: int, offset: int | None, product_version: str | None, attack_version: str | None
) -> dict:
    """A checked FIM alert → File System Activity event (AlertError for others)."""
    if not is_file_activity(alert):
        raise AlertError("not a FIM alert: File System Activity needs syscheck.path, syscheck.event and an agent")
    syscheck = alert["syscheck"]
    change = syscheck["event"]
    used = set()
    event = base_event(
        alert, rule, epoch_ms, offset, CLASS_UID, CLASS_NAME, product_version, used,
        category=CATEGORY, activity=ACTIVITIES[change], risk_score=False,
        event_uid=make_finding_uid(alert, epoch_ms),
    )
    if change == "added":
        event["file"] = _file(syscheck, "_after", used)
    elif change == "modified":
        event["file"] = _file(syscheck, "_before", used)
        event["file_result"] = _file(syscheck, "_after", used)
    else:
        event["file"] = _file(syscheck, "_before" if _has(syscheck, "_before") else "_after", used)
    diff = _exact(syscheck, "diff", used)
    if diff is not None:
        event["file_diff"] = diff
    event["actor"] = _actor(syscheck, used)
    event["device"] = map_device(alert["agent"], used)
    return add_observables_and_unmapped(event, alert, used)
