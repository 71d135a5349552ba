"""Observables: the event's values worth pivoting on (IPs, users, files, hashes, processes).

An observable indexes a value, it does not move it. ``name`` is, as OCSF says, "the full
name of the observable attribute … a pointer/reference to an attribute within the event
data": the dotted OCSF path of the attribute of *this* event that holds the value
(``device.name``, ``evidences.src_endpoint.ip``; array members are walked through without an
index). A value that only ``unmapped`` holds is named ``unmapped.<its unmapped key>``
(``unmapped.data.srcip``): Security Finding 1.1.0 has no typed place for most of ``data.*``.
:func:`resolve` follows a name back to its values. ``type_id`` is OCSF's observable type;
a value is taken only when it is a non-empty string that fits its type (IP addresses must
parse, hashes must be hex); Windows registry paths (``HKEY_…``) are Registry Keys.
"""

from __future__ import annotations

from wazuh_ocsf.mapping.common import MAX_STRING, cut

HOSTNAME, IP_ADDRESS, USER_NAME, URL_STRING, FILE_NAME, HASH, PROCESS_NAME = 1, 2, 4, 6, 7, 8, 9
REGISTRY_KEY = 28
TYPE_NAMES = {
    HOSTNAME: "Hostname",
    IP_ADDRESS: "IP Address",
    USER_NAME: "User Name",
    URL_STRING: "URL String",
    FILE_NAME: "File Name",
    HASH: "Hash",
    PROCESS_NAME: "Process Name",
    REGISTRY_KEY: "Registry Key",
}

_SRC_IP = ("src_endpoint.ip", "evidences.src_endpoint.ip")
_DST_IP = ("dst_endpoint.ip", "evidences.dst_endpoint.ip")
_ACTOR = ("actor.user.name", "evidences.actor.user.name")
_USER = ("user.name", "evidences.actor.user.name", "actor.user.name")
_EXE = ("evidences.process.file.path", "actor.process.file.path", "process.file.path")
_FILE_PATH = ("file.path", "evidences.file.path")
_HASHES = ("file.hashes.value", "file_result.hashes.value", "evidences.file.hashes.value")

# (alert path, type_id, event paths that may hold its value, in the order tried), in output
# order. Alert paths are the fields Wazuh's own decoders and modules write (syslog decoders,
# eventchannel, aws-s3, office365, syscheck, audit, virustotal). A value none of the event
# paths holds is named by its ``unmapped`` key; one the event does not hold at all is left out.
FIELDS = (
    (("agent", "name"), HOSTNAME, ("device.name", "resources.name", "resource.name", "metadata.loggers.name")),
    (("agent", "ip"), IP_ADDRESS, ("device.ip", "metadata.loggers.device.ip")),
    (("data", "srcip"), IP_ADDRESS, _SRC_IP),
    (("data", "dstip"), IP_ADDRESS, _DST_IP),
    (("data", "srcuser"), USER_NAME, _ACTOR),
    (("data", "dstuser"), USER_NAME, _USER),
    (("data", "url"), URL_STRING, ()),
    (("data", "win", "eventdata", "ipAddress"), IP_ADDRESS, _SRC_IP),
    (("data", "win", "eventdata", "subjectUserName"), USER_NAME, _ACTOR),
    (("data", "win", "eventdata", "targetUserName"), USER_NAME, _USER),
    (("data", "win", "eventdata", "image"), PROCESS_NAME, _EXE),
    (("data", "aws", "sourceIPAddress"), IP_ADDRESS, _SRC_IP),
    (("data", "office365", "ClientIP"), IP_ADDRESS, _SRC_IP),
    (("data", "office365", "UserId"), USER_NAME, _ACTOR),
    (("data", "audit", "exe"), PROCESS_NAME, _EXE),
    (("data", "audit", "command"), PROCESS_NAME, ("evidences.process.name", "actor.process.name", "process.name")),
    (("syscheck", "path"), FILE_NAME, _FILE_PATH),
    (("syscheck", "md5_after"), HASH, _HASHES),
    (("syscheck", "sha1_after"), HASH, _HASHES),
    (("syscheck", "sha256_after"), HASH, _HASHES),
    (("syscheck", "md5_before"), HASH, _HASHES),
    (("syscheck", "sha1_before"), HASH, _HASHES),
    (("syscheck", "sha256_before"), HASH, _HASHES),
    (("data", "virustotal", "source", "file"), FILE_NAME, ("evidences.file.path", "malware.path")),
    (("data", "virustotal", "source", "md5"), HASH, _HASHES),
    (("data", "virustotal", "source", "sha1"), HASH, (*_HASHES, "malware.uid")),
)

_HEX = frozenset("0123456789abcdefABCDEF")


def is_ipv4(value: str) -> bool:
    """Dotted-quad IPv4 without leading zeros (what OCSF's ``ip_t`` pattern accepts).

    Each octet is ``25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]``, checked without ``re``
    (which would cost the hook ~10 ms of imports).
    """
    octets = value.split(".")
    # One C check for "four groups of ASCII digits" (isdigit() is [0-9] on ASCII text), then
    # per octet: 1-3 digits, no leading zero, at most 255 (three digits compare as numbers do).
    if len(octets) != 4 or not value.isascii() or not "".join(octets).isdigit():
        return False
    for octet in octets:
        size = len(octet)
        if size != 1 and (size == 0 or size > 3 or octet[0] == "0" or (size == 3 and octet > "255")):
            return False
    return True


def is_ipv6(value: str) -> bool:
    """IPv6 text form: ``::`` compression, an embedded IPv4 tail, an optional ``%zone``."""
    address, percent, zone = value.partition("%")
    if percent and not zone:
        return False
    if "." in address:
        head, _, tail = address.rpartition(":")
        if not head or not is_ipv4(tail):
            return False
        address = head + ":0:0"
    if address.count("::") > 1:
        return False
    if "::" in address:
        left, right = address.split("::")
        groups = (left.split(":") if left else []) + (right.split(":") if right else [])
        if len(groups) > 7:
            return False
    else:
        groups = address.split(":")
        if len(groups) != 8:
            return False
    return all(1 <= len(group) <= 4 and _HEX.issuperset(group) for group in groups)


def is_ip(value: str) -> bool:
    """True for an IPv4 or IPv6 address OCSF's ``ip_t`` accepts (at most 40 characters)."""
    if len(value) > 40:
        return False
    return is_ipv6(value) if ":" in value else is_ipv4(value)


def _tree(fields: tuple) -> tuple:
    # (keys, leaves, children) per object: leaves = ((key, path, type_id, event paths), …),
    # children = ((key, subtree), …) and keys all their keys, so one walk skips whole missing
    # subtrees and objects that hold none of the keys. Order: FIELDS order. Each event path
    # is (its first key, all its keys, the dotted name).
    nested: dict = {}
    for path, type_id, names in fields:
        node = nested
        for key in path[:-1]:
            node = node.setdefault(key, {})
        keys = [tuple(name.split(".")) for name in names]
        node[path[-1]] = (".".join(path), type_id, tuple((key[0], key, name) for key, name in zip(keys, names)))

    def build(node: dict) -> tuple:
        leaves = tuple((key, *spec) for key, spec in node.items() if type(spec) is tuple)
        children = tuple((key, build(spec)) for key, spec in node.items() if type(spec) is dict)
        return frozenset(node), leaves, children

    return build(nested)


_TREE = _tree(FIELDS)
UNMAPPED = "unmapped"


def _holds(value: object, keys: tuple, index: int, wanted: str) -> bool:
    # Whether the attribute keys[index:] of value holds wanted, array members walked through.
    size = len(keys)
    while index < size:
        kind = type(value)
        if kind is dict:
            value = value.get(keys[index])
            index += 1
        elif kind is list:
            for item in value:  # noqa: SIM110 - a loop, not any(generator): no generator per list
                if _holds(item, keys, index, wanted):
                    return True
            return False
        else:
            return False
    if type(value) is list:
        return wanted in value
    return value == wanted


def resolve(event: dict, name: str) -> list:
    """The values the attribute ``name`` points to in ``event`` (array members walked
    through, ``unmapped.<key>`` read as one key of ``unmapped``); [] when there are none."""
    head, _, rest = name.partition(".")
    if head == UNMAPPED:
        unmapped = event.get(UNMAPPED)
        value = unmapped.get(rest) if type(unmapped) is dict else None
        return [] if value is None else [value]
    found = [event]
    for key in name.split("."):
        step = []
        for value in found:
            items = value if type(value) is list else [value]
            step.extend(item[key] for item in items if type(item) is dict and key in item)
        found = step
    return [item for value in found for item in (value if type(value) is list else [value])]


def _name(event: dict, path: str, names: tuple, value: str) -> str | None:
    get = event.get
    for first, keys, name in names:
        top = get(first)  # most candidates' attribute is absent from this class's event
        if top is not None and _holds(top, keys, 1, value):
            return name
    unmapped = get(UNMAPPED)
    if type(unmapped) is dict and unmapped.get(path) == value:
        return f"{UNMAPPED}.{path}"
    return None


def _collect(obj: dict, tree: tuple, event: dict, out: list) -> None:
    keys, leaves, children = tree
    if obj.keys().isdisjoint(keys):  # one C call: data.* often holds none of them
        return
    get = obj.get
    for key, path, type_id, names in leaves:
        value = get(key)
        if type(value) is not str or not value:
            continue
        if type_id == IP_ADDRESS:
            if not is_ip(value):
                continue
        elif type_id == HASH and not _HEX.issuperset(value):
            continue
        elif type_id == FILE_NAME and value[:5].upper() == "HKEY_":
            type_id = REGISTRY_KEY
        if len(value) > MAX_STRING:
            value = cut(value)
        name = _name(event, path, names, value)
        if name is not None:
            out.append({"name": name, "type_id": type_id, "type": TYPE_NAMES[type_id], "value": value})
    for key, subtree in children:
        value = get(key)
        if type(value) is dict:
            _collect(value, subtree, event, out)


def map_observables(alert: dict, event: dict) -> list | None:
    """The observables of ``alert`` as mapped into ``event`` (which must already hold every
    other attribute, ``unmapped`` included); None when it has none."""
    observables = []
    _collect(alert, _TREE, event, observables)
    return observables or None


def add_observables(event: dict, alert: dict) -> dict:
    """``event`` with its ``observables`` set, placed before ``unmapped``; returns ``event``."""
    observables = map_observables(alert, event)
    if observables is not None:
        unmapped = event.pop(UNMAPPED, None)
        event["observables"] = observables
        if unmapped is not None:
            event[UNMAPPED] = unmapped
    return event
