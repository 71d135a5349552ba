"""Observables: the alert's values worth pivoting on (IPs, users, files, hashes, processes).

An observable indexes a value, it does not move it: the alert field it comes from is still
mapped (or kept in ``unmapped``) as usual. ``name`` is that field's dotted alert path (the
same key ``unmapped`` uses), ``type_id`` OCSF's observable type. A value is taken only when it
is a non-empty string that fits its type (IP addresses must parse, hashes must be hex).
"""

from __future__ import annotations

from wazuh_ocsf.mapping.common import MAX_STRING, cut

HOSTNAME, IP_ADDRESS, USER_NAME, URL_STRING, FILE_NAME, HASH, PROCESS_NAME = 1, 2, 4, 6, 7, 8, 9
TYPE_NAMES = {
    HOSTNAME: "Hostname",
    IP_ADDRESS: "IP Address",
    USER_NAME: "User Name",
    URL_STRING: "URL String",
    FILE_NAME: "File Name",
    HASH: "Hash",
    PROCESS_NAME: "Process Name",
}

# (alert path, type_id), in output order. Paths are the fields Wazuh's own decoders and
# modules write (syslog decoders, eventchannel, aws-s3, office365, syscheck, audit, virustotal).
FIELDS = (
    (("agent", "name"), HOSTNAME),
    (("agent", "ip"), IP_ADDRESS),
    (("data", "srcip"), IP_ADDRESS),
    (("data", "dstip"), IP_ADDRESS),
    (("data", "srcuser"), USER_NAME),
    (("data", "dstuser"), USER_NAME),
    (("data", "url"), URL_STRING),
    (("data", "win", "eventdata", "ipAddress"), IP_ADDRESS),
    (("data", "win", "eventdata", "subjectUserName"), USER_NAME),
    (("data", "win", "eventdata", "targetUserName"), USER_NAME),
    (("data", "win", "eventdata", "image"), PROCESS_NAME),
    (("data", "aws", "sourceIPAddress"), IP_ADDRESS),
    (("data", "office365", "ClientIP"), IP_ADDRESS),
    (("data", "office365", "UserId"), USER_NAME),
    (("data", "audit", "exe"), PROCESS_NAME),
    (("data", "audit", "command"), PROCESS_NAME),
    (("syscheck", "path"), FILE_NAME),
    (("syscheck", "md5_after"), HASH),
    (("syscheck", "sha1_after"), HASH),
    (("syscheck", "sha256_after"), HASH),
    (("syscheck", "md5_before"), HASH),
    (("syscheck", "sha1_before"), HASH),
    (("syscheck", "sha256_before"), HASH),
    (("data", "virustotal", "source", "file"), FILE_NAME),
    (("data", "virustotal", "source", "md5"), HASH),
    (("data", "virustotal", "source", "sha1"), HASH),
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
    # (keys, leaves, children) per object: leaves = ((key, path, type_id), …), children =
    # ((key, subtree), …) and keys all their keys, so one walk skips whole missing subtrees
    # and objects that hold none of the keys. Order: FIELDS order.
    nested: dict = {}
    for path, type_id in fields:
        node = nested
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = (".".join(path), type_id)

    def build(node: dict) -> tuple:
        leaves = tuple((key, *spec) for key, spec in node.items() if type(spec) is tuple)
        children = tuple((key, build(spec)) for key, spec in node.items() if type(spec) is dict)
        return frozenset(node), leaves, children

    return build(nested)


_TREE = _tree(FIELDS)


def _collect(obj: dict, tree: tuple, out: list) -> None:
    keys, leaves, children = tree
    if obj.keys().isdisjoint(keys):  # one C call: data.* often holds none of them
        return
    get = obj.get
    for key, name, type_id in leaves:
        value = get(key)
        if type(value) is not str or not value:
            continue
        if type_id == IP_ADDRESS:
            if not is_ip(value):
                continue
        elif type_id == HASH and not _HEX.issuperset(value):
            continue
        if len(value) > MAX_STRING:
            value = cut(value)
        out.append({"name": name, "type_id": type_id, "type": TYPE_NAMES[type_id], "value": value})
    for key, subtree in children:
        value = get(key)
        if type(value) is dict:
            _collect(value, subtree, out)


def map_observables(alert: dict) -> list | None:
    """The observables of an alert (None when it has none), in :data:`FIELDS` order per object."""
    observables = []
    _collect(alert, _TREE, observables)
    return observables or None
