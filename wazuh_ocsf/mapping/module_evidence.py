"""Detection Finding evidence from module fields: AWS CloudTrail, Office 365 and Sysmon.

:func:`module_evidence` returns the evidence attributes these modules' fields fill; they take
the place of what :mod:`~wazuh_ocsf.mapping.evidences` found in the generic fields for the
same attribute. Each attribute is the OCSF 1.1.0 one whose description fits the field:

* CloudTrail (``data.aws`` with ``eventName`` or ``userIdentity``), as OCSF's own CloudTrail
  example maps it: ``userIdentity`` → ``actor.user`` (``userName`` → name, ``arn`` → uid
  ("the AWS user ARN"), ``principalId`` → uid_alt ("AWS user Principal ID"), ``type``,
  ``accessKeyId`` → credential_uid, ``accountId`` → account); ``sessionContext`` →
  ``actor.session`` (``creationDate`` → created_time, ``mfaAuthenticated`` → is_mfa,
  ``sessionIssuer.arn`` → issuer, the role the session assumed); ``invokedBy`` →
  ``actor.invoked_by``; the web identity provider → ``actor.idp``; ``sourceIPAddress`` →
  ``src_endpoint.ip``, or ``src_endpoint.svc_name`` when an AWS service made the call on
  the user's behalf (``ec2.amazonaws.com``, ``AWS Internal``); ``vpcEndpointId`` →
  ``src_endpoint.uid``; ``eventName``/``eventSource``/``apiVersion``/``requestID``/
  ``errorCode``/``errorMessage`` → ``api``. OCSF 1.1.0 evidence has no place for
  ``userAgent`` (``http_request`` is not an evidence attribute before 1.3).
* Office 365 (``data.office365``): ``UserId`` → ``actor.user.name``, ``UserKey`` →
  ``uid_alt`` ("an alternative ID for the user identified in the UserId property"),
  ``UserType`` → ``type`` (Microsoft's name for the number); ``ClientIP`` (else
  ``ActorIpAddress``; ``ip:port`` and ``[ip]:port`` split) → ``src_endpoint``;
  ``Operation`` on ``Workload`` → ``api.operation`` and ``api.service.name``.
* Sysmon (``data.win`` from ``Microsoft-Windows-Sysmon``): the event's process
  (``processId`` → pid, ``processGuid`` → uid, "a unique identifier for this process
  assigned by the producer", ``image`` → name and file, ``commandLine``, ``user`` → user
  and domain, ``integrityLevel``, ``utcTime`` of a process creation → created_time) with its
  parent (``parentProcessId``, ``parentProcessGuid``, ``parentImage``, ``parentCommandLine``,
  ``parentUser``) → ``process``; for CreateRemoteThread and ProcessAccess (8, 10) the source
  process is the ``process`` (the target stays in ``unmapped``); ``targetFilename`` (file
  events) or ``imageLoaded`` (6, 7) → ``file``; ``hashes`` (``SHA1=…,MD5=…,SHA256=…,IMPHASH=…``)
  → that file's ``hashes``, or the process image's for a process creation; ``sourceIp``/
  ``sourcePort`` and ``destinationIp``/``destinationPort`` (3) → the endpoints.

The eventchannel decoder hands ``data.win.eventdata`` values over JSON-escaped
(``C:\\\\Windows\\\\…``, ``\\"``): evidence holds the path as Windows wrote it. Every value is
copied; the alert fields stay in ``unmapped`` as well.
"""

from __future__ import annotations

from wazuh_ocsf.mapping.common import INT32_MAX, MAX_STRING, as_int, basename, cut
from wazuh_ocsf.mapping.observables import is_ip
from wazuh_ocsf.mapping.timestamps import days_from_civil

SYSMON = "Microsoft-Windows-Sysmon"
_AWS_ACCOUNT = (10, "AWS Account")  # OCSF account type_id
_REGULAR_FILE = (1, "Regular File")
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")

# Sysmon's hash names → OCSF fingerprint algorithm_id, algorithm and digest length. IMPHASH
# (the import table's MD5) is OCSF's "Other", named as the source names it.
_SYSMON_HASHES = {
    "MD5": (1, "MD5", 32),
    "SHA1": (2, "SHA-1", 40),
    "SHA256": (3, "SHA-256", 64),
    "IMPHASH": (99, "IMPHASH", 32),
}

# Sysmon IntegrityLevel → OCSF process integrity_id and its caption.
_INTEGRITY = {
    "Untrusted": (1, "Untrusted"),
    "Low": (2, "Low"),
    "Medium": (3, "Medium"),
    "High": (4, "High"),
    "System": (5, "System"),
    "Protected": (6, "Protected"),
}

# The Office 365 Management Activity API's UserType numbers.
_O365_USER_TYPES = {
    "0": "Regular",
    "1": "Reserved",
    "2": "Admin",
    "3": "DcAdmin",
    "4": "System",
    "5": "Application",
    "6": "ServicePrincipal",
    "7": "CustomPolicy",
    "8": "SystemPolicy",
}

# (pid key, uid keys, image key, command line key, user key) of a Sysmon process.
_OWN = ("processId", ("processGuid",), "image", "commandLine", "user")
_PARENT = ("parentProcessId", ("parentProcessGuid",), "parentImage", "parentCommandLine", "parentUser")
_SOURCE = ("sourceProcessId", ("sourceProcessGuid", "sourceProcessGUID"), "sourceImage", None, "sourceUser")


def _text(obj: object, key: str) -> str | None:
    if type(obj) is not dict:
        return None
    value = obj.get(key)
    return cut(value) if type(value) is str and value else None


def _pick(obj: dict, pairs: tuple) -> dict:
    """``{attribute: obj[key]}`` for each ``(key, attribute)`` whose value is a non-empty string."""
    picked = {}
    for key, attribute in pairs:
        value = _text(obj, key)
        if value is not None:
            picked[attribute] = value
    return picked


def _dict(obj: object, key: str) -> dict | None:
    value = obj.get(key) if type(obj) is dict else None
    return value if type(value) is dict else None


def _utc_ms(value: str | None) -> int | None:
    """Epoch ms of ``YYYY-MM-DDTHH:MM:SSZ`` (CloudTrail) or ``YYYY-MM-DD HH:MM:SS.fff``
    (Sysmon's UTC times), else None: fixed positions, no ``re`` on the hook's path."""
    if value is None:
        return None
    size = len(value)
    if size == 20 and value[10] == "T" and value[19] == "Z":
        millis = "000"
    elif size == 23 and value[10] == " " and value[19] == ".":
        millis = value[20:]
    else:
        return None
    if value[4] != "-" or value[7] != "-" or value[13] != ":" or value[16] != ":":
        return None
    digits = value[0:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:19] + millis
    if not (digits.isascii() and digits.isdigit()):
        return None
    number = int(digits)  # YYYYMMDDhhmmssfff
    year, month, day = number // 10**13, number // 10**11 % 100, number // 10**9 % 100
    hour, minute, second = number // 10**7 % 100, number // 10**5 % 100, number // 1000 % 100
    if year < 1970 or not 1 <= month <= 12 or not 1 <= day <= 31 or hour > 23 or minute > 59 or second > 60:
        return None
    seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return seconds * 1000 + number % 1000


# --- AWS CloudTrail ---------------------------------------------------------------------------

# userIdentity key → OCSF user attribute (OCSF's CloudTrail example mapping).
_CLOUDTRAIL_USER = (("userName", "name"), ("arn", "uid"), ("principalId", "uid_alt"), ("type", "type"),
                    ("accessKeyId", "credential_uid"))


def _cloudtrail_actor(identity: dict) -> dict | None:
    user = _pick(identity, _CLOUDTRAIL_USER)
    account = _text(identity, "accountId")
    if account is not None:
        user["account"] = {"uid": account, "type_id": _AWS_ACCOUNT[0], "type": _AWS_ACCOUNT[1]}
    actor = {}
    if "name" in user or "uid" in user or "account" in user:  # OCSF: a user has one of them
        actor["user"] = user
    context = _dict(identity, "sessionContext")
    if context is not None:
        session = {}
        attributes = _dict(context, "attributes")
        created = _utc_ms(_text(attributes, "creationDate"))
        if created is not None:
            session["created_time"] = created
        mfa = _text(attributes, "mfaAuthenticated")
        if mfa in ("true", "false"):
            session["is_mfa"] = mfa == "true"
        issuer = _text(_dict(context, "sessionIssuer"), "arn")
        if issuer is not None:
            session["issuer"] = issuer
        if session:
            actor["session"] = session
        provider = _text(_dict(context, "webIdFederationData"), "federatedProvider")
        if provider is not None:
            actor["idp"] = {"name": provider}
    invoked_by = _text(identity, "invokedBy")
    if invoked_by is not None:
        actor["invoked_by"] = invoked_by
    if "idp" not in actor:
        provider = _text(identity, "identityProvider")
        if provider is not None:
            actor["idp"] = {"name": provider}
    # OCSF 1.1.0: an actor has at least one of process, user, invoked_by, session; an idp alone is none
    if not ("user" in actor or "session" in actor or "invoked_by" in actor):
        return None
    return actor


def _cloudtrail_source(aws: dict) -> dict | None:
    endpoint = {}
    source = _text(aws, "sourceIPAddress")
    if source is not None:
        if is_ip(source):
            endpoint["ip"] = source
        elif source.endswith(".amazonaws.com") or source == "AWS Internal":
            endpoint["svc_name"] = source  # an AWS service called on the user's behalf
    vpc_endpoint = _text(aws, "vpcEndpointId")
    if vpc_endpoint is not None:
        endpoint["uid"] = vpc_endpoint
    return endpoint or None


def _cloudtrail_api(aws: dict, operation: str) -> dict:
    api = {"operation": operation}
    service = _text(aws, "eventSource")
    if service is not None:
        api["service"] = {"name": service}
    version = _text(aws, "apiVersion")
    if version is not None:
        api["version"] = version
    request = _text(aws, "requestID")
    if request is not None:
        api["request"] = {"uid": request}
    response = _pick(aws, (("errorCode", "error"), ("errorMessage", "error_message")))
    if response:
        api["response"] = response
    return api


def cloudtrail_evidence(aws: dict) -> dict | None:
    """Evidence attributes of a CloudTrail record in ``data.aws``; None for the other AWS
    services' alerts (GuardDuty, Macie, Security Hub, …), which have neither ``eventName``
    nor ``userIdentity``."""
    operation = _text(aws, "eventName")
    identity = _dict(aws, "userIdentity")
    if operation is None and identity is None:
        return None
    evidence = {}
    actor = _cloudtrail_actor(identity) if identity is not None else None
    if actor is not None:
        evidence["actor"] = actor
    source = _cloudtrail_source(aws)
    if source is not None:
        evidence["src_endpoint"] = source
    if operation is not None:
        evidence["api"] = _cloudtrail_api(aws, operation)
    return evidence or None


# --- Office 365 -------------------------------------------------------------------------------


def _ip_endpoint(value: str | None) -> dict | None:
    """``ip``, ``ipv4:port`` or ``[ipv6]:port`` → network endpoint, else None."""
    if value is None:
        return None
    if is_ip(value):
        return {"ip": value}
    if value[:1] == "[":
        host, separator, port = value[1:].partition("]:")
    else:
        host, separator, port = value.rpartition(":")
    if not separator or not is_ip(host):
        return None
    endpoint = {"ip": host}
    port = as_int(port, 1, 65535)
    if port is not None:
        endpoint["port"] = port
    return endpoint


def office365_evidence(office: dict) -> dict | None:
    """Evidence attributes of an Office 365 audit record in ``data.office365``."""
    evidence = {}
    name = _text(office, "UserId")
    if name is not None:
        user = {"name": name}
        key = _text(office, "UserKey")
        if key is not None:
            user["uid_alt"] = key
        kind = office.get("UserType")
        kind = _O365_USER_TYPES.get(kind if type(kind) is str else str(kind) if type(kind) is int else "")
        if kind is not None:
            user["type"] = kind
        evidence["actor"] = {"user": user}
    source = _ip_endpoint(_text(office, "ClientIP")) or _ip_endpoint(_text(office, "ActorIpAddress"))
    if source is not None:
        evidence["src_endpoint"] = source
    operation = _text(office, "Operation")
    if operation is not None:
        api = {"operation": operation}
        workload = _text(office, "Workload")
        if workload is not None:
            api["service"] = {"name": workload}
        evidence["api"] = api
    return evidence or None


# --- Sysmon -----------------------------------------------------------------------------------


def _win(value: object) -> str | None:
    """An eventchannel text value as Windows wrote it: the decoder's JSON escapes (``\\\\``,
    ``\\"``) undone; None unless a non-empty string."""
    if type(value) is not str or not value:
        return None
    if "\\" in value:
        if '\\"' in value:  # rare (command lines): quotes and backslashes, left to right
            value = "\\".join([part.replace('\\"', '"') for part in value.split("\\\\")])
        else:
            value = value.replace("\\\\", "\\")
    return value if len(value) <= MAX_STRING else cut(value)


def _fingerprints(value: object) -> list | None:
    """Sysmon's ``SHA1=…,MD5=…,SHA256=…,IMPHASH=…`` → OCSF fingerprints (all-zero digests,
    which Sysmon writes when it computed none, and unknown algorithms left out)."""
    if type(value) is not str:
        return None
    hashes = []
    for part in value.split(","):
        name, _, digest = part.partition("=")
        spec = _SYSMON_HASHES.get(name)
        if spec is not None and len(digest) == spec[2] and _HEX.issuperset(digest) and digest.strip("0"):
            hashes.append({"algorithm_id": spec[0], "algorithm": spec[1], "value": digest})
    return hashes or None


def _file(path: str, hashes: list | None) -> dict:
    file = {"name": basename(path) or path, "path": path, "type_id": _REGULAR_FILE[0], "type": _REGULAR_FILE[1]}
    if hashes is not None:
        file["hashes"] = hashes
    return file


def _user(account: str | None) -> dict | None:
    if account is None or account == "-":
        return None
    domain, _, name = account.rpartition("\\")
    user = {"name": name or account}
    if domain:
        user["domain"] = domain
    return user


def _pid(value: object) -> int | None:
    # Sysmon writes decimal pids; 0 is no process
    if type(value) is str and 0 < len(value) <= 10 and _DIGITS.issuperset(value):
        number = int(value)
        return number if 0 < number <= INT32_MAX else None
    return as_int(value, 1, INT32_MAX)


def _sysmon_process(eventdata: dict, keys: tuple) -> dict | None:
    pid_key, uid_keys, image_key, cmd_key, user_key = keys
    get = eventdata.get
    process = {}
    pid = _pid(get(pid_key))
    if pid is not None:
        process["pid"] = pid
    for key in uid_keys:
        uid = get(key)
        if type(uid) is str and uid:
            process["uid"] = cut(uid)
            break
    if not process:
        return None  # OCSF identifies a process by pid or uid
    image = _win(get(image_key))
    if image is not None:
        name = image.rpartition("\\")[2] or image  # a Windows path
        process["name"] = name
        process["file"] = {"name": name, "path": image, "type_id": _REGULAR_FILE[0], "type": _REGULAR_FILE[1]}
    if cmd_key is not None:
        cmd_line = _win(get(cmd_key))
        if cmd_line is not None:
            process["cmd_line"] = cmd_line
    user = _user(_win(get(user_key)))
    if user is not None:
        process["user"] = user
    return process


def _sysmon_main_process(eventdata: dict, event_id: object, hashes: list | None) -> dict | None:
    """The process a Sysmon event is about: the source of CreateRemoteThread/ProcessAccess, else
    the event's own, with its integrity, creation time, parent and (``hashes``) image hashes."""
    if "sourceImage" in eventdata or "sourceProcessId" in eventdata:  # 8, 10: the target stays unmapped
        return _sysmon_process(eventdata, _SOURCE)
    process = _sysmon_process(eventdata, _OWN)
    if process is None:
        return None
    if hashes is not None and "file" in process:  # a process creation's image
        process["file"]["hashes"] = hashes
    level = _text(eventdata, "integrityLevel")
    if level is not None:
        process["integrity_id"], process["integrity"] = _INTEGRITY.get(level, (99, level))
    if event_id == "1":
        created = _utc_ms(_text(eventdata, "utcTime"))
        if created is not None:
            process["created_time"] = created
    parent = _sysmon_process(eventdata, _PARENT)
    if parent is not None:
        process["parent_process"] = parent
    return process


def _file_path(eventdata: dict) -> str | None:
    """The file a Sysmon file event (2, 11, 15, 23, 26, 29) or image load (6, 7) names."""
    return _win(eventdata.get("targetFilename") or eventdata.get("imageLoaded"))


def sysmon_evidence(eventdata: dict, event_id: object) -> dict | None:
    """Evidence attributes of a Sysmon event's ``data.win.eventdata``."""
    evidence = {}
    hashes = _fingerprints(eventdata.get("hashes") or eventdata.get("hash"))  # event 15 names it "hash"
    path = _file_path(eventdata)
    if path is not None:
        evidence["file"] = _file(path, hashes)
    process = _sysmon_main_process(eventdata, event_id, hashes if path is None else None)
    if process is not None:
        evidence["process"] = process
    if "destinationIp" in eventdata or "sourceIp" in eventdata:  # a network connection (3)
        for ip_key, port_key, attribute in (("sourceIp", "sourcePort", "src_endpoint"),
                                            ("destinationIp", "destinationPort", "dst_endpoint")):
            ip = _text(eventdata, ip_key)
            if ip is not None and is_ip(ip):
                endpoint = {"ip": ip}
                port = as_int(eventdata.get(port_key), 1, 65535)
                if port is not None:
                    endpoint["port"] = port
                evidence[attribute] = endpoint
    return evidence or None


def _sysmon(data: dict) -> tuple | None:
    """``(eventdata, eventID)`` of a Sysmon eventchannel alert's ``data``, else None."""
    win = data.get("win")
    if type(win) is dict:
        system = win.get("system")
        if type(system) is dict and system.get("providerName") == SYSMON:
            eventdata = win.get("eventdata")
            if type(eventdata) is dict:
                return eventdata, system.get("eventID")
    return None


def module_evidence(data: dict) -> dict | None:
    """The evidence attributes that ``data``'s CloudTrail, Office 365 or Sysmon fields fill,
    None for every other alert (three dict look-ups)."""
    aws = data.get("aws")
    if aws is not None:
        return cloudtrail_evidence(aws) if type(aws) is dict else None
    office = data.get("office365")
    if office is not None:
        return office365_evidence(office) if type(office) is dict else None
    sysmon = _sysmon(data)
    return sysmon_evidence(*sysmon) if sysmon is not None else None


def add_finding_attributes(event: dict, data: dict) -> None:
    """Security Finding 1.1.0 has no ``evidences``; of what they hold it has ``api`` (with the
    cloud profile, which CloudTrail alerts have) and ``process``: CloudTrail's API call and
    Sysmon's process go there, as in Detection Finding's evidence. (Office 365's operation does
    not: its alerts have no cloud profile, and no ``cloud.provider`` to give one.)"""
    aws = data.get("aws")
    if aws is not None:
        operation = _text(aws, "eventName") if "cloud" in event else None  # not GuardDuty, Macie, …
        if operation is not None:
            event["api"] = _cloudtrail_api(aws, operation)
        return
    if "office365" in data:
        return
    sysmon = _sysmon(data)
    if sysmon is not None:
        eventdata, event_id = sysmon
        hashes = None if _file_path(eventdata) is not None else _fingerprints(eventdata.get("hashes"))  # the image's
        process = _sysmon_main_process(eventdata, event_id, hashes)
        if process is not None:
            event["process"] = process
