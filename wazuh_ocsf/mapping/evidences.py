"""Detection Finding ``evidences``: the endpoints, user, file and process an alert names.

One evidence object per alert, holding whatever is there:

* ``src_endpoint`` / ``dst_endpoint``: ``data.srcip``/``data.srcport`` (else Windows
  ``data.win.eventdata.ipAddress``/``ipPort``) and ``data.dstip``/``data.dstport``, only with
  an IP that parses; ports must be 1–65535;
* ``actor.user.name``: ``data.srcuser`` (who acted), else ``data.dstuser`` (the account used,
  as in sshd's "Accepted password for <dstuser>"), else Windows ``targetUserName`` for
  logon events (the account that logged on) and ``subjectUserName`` for all others (who
  created the account, added the member, started the process), else FIM who-data's
  ``syscheck.audit.user.name``;
* ``file``: ``syscheck.path`` (not for registry keys) with its ``*_after`` hashes (``*_before``
  when there is no ``*_after``), else ``data.virustotal.source.file`` with its hashes, else
  ``data.audit.file.name``;
* ``process``: ``data.audit`` (``command``, ``exe``, ``pid``) or Windows
  ``data.win.eventdata`` (``image``, ``processId`` decimal or ``0x`` hex, ``commandLine``) or
  FIM who-data's ``syscheck.audit.process`` (``id``, ``name``), only with a pid (OCSF
  identifies a process by ``pid`` or ``uid``).

AWS CloudTrail, Office 365 and Sysmon alerts get more from their module fields
(:mod:`~wazuh_ocsf.mapping.module_evidence`), which take the place of the above.

Evidences copy values into typed attributes; the alert fields stay in ``unmapped`` as well
(Detection Finding has no other home for most of ``data.*``).
"""

from __future__ import annotations

from wazuh_ocsf.mapping.common import INT32_MAX, as_int, basename, cut
from wazuh_ocsf.mapping.module_evidence import module_evidence
from wazuh_ocsf.mapping.observables import is_ip

# Wazuh's hash key, OCSF fingerprint.algorithm_id and name, and the hex length of the digest.
HASHES = (("md5", 1, "MD5", 32), ("sha1", 2, "SHA-1", 40), ("sha256", 3, "SHA-256", 64))
HEX = frozenset("0123456789abcdefABCDEF")
_REGULAR_FILE = 1


def _text(obj: object, key: str) -> str | None:
    if type(obj) is not dict:
        return None
    value = obj.get(key)
    return value if type(value) is str and value else None


def _endpoint(data: dict, ip_key: str, port_key: str) -> dict | None:
    ip = _text(data, ip_key)
    if ip is None or not is_ip(ip):
        return None  # OCSF needs an endpoint to be identified (ip, name, …): a port alone is not
    endpoint = {"ip": ip}
    port = as_int(data.get(port_key), 1, 65535)  # Windows writes "0" for "no port"
    if port is not None:
        endpoint["port"] = port
    return endpoint


def _hashes(source: dict, suffixes: tuple) -> list | None:
    hashes = []
    for key, algorithm_id, algorithm, length in HASHES:
        for suffix in suffixes:
            value = _text(source, key + suffix)
            if value is not None and len(value) == length and HEX.issuperset(value):
                hashes.append({"algorithm_id": algorithm_id, "algorithm": algorithm, "value": value})
                break
    return hashes or None


def _file(path: str, hashes: list | None) -> dict:
    path = cut(path)
    file = {"name": basename(path) or path, "path": path, "type_id": _REGULAR_FILE, "type": "Regular File"}
    if hashes:
        file["hashes"] = hashes
    return file


def _map_file(alert: dict, data: dict | None) -> dict | None:
    syscheck = alert.get("syscheck")
    path = _text(syscheck, "path")
    if path is not None and not path.upper().startswith("HKEY_"):
        return _file(path, _hashes(syscheck, ("_after", "_before")))
    virustotal = data.get("virustotal") if data is not None else None
    source = virustotal.get("source") if type(virustotal) is dict else None
    path = _text(source, "file")
    if path is not None:
        return _file(path, _hashes(source, ("",)))
    audit = data.get("audit") if data is not None else None
    path = _text(audit.get("file") if type(audit) is dict else None, "name")
    if path is not None:
        return _file(path, None)
    return None


def _pid(value: object) -> int | None:
    if type(value) is str and value[:2] in ("0x", "0X"):
        try:
            number = int(value[2:], 16)
        except ValueError:
            return None
        return number if 0 < number <= INT32_MAX else None
    return as_int(value, 1, INT32_MAX)  # pid 0 is "no process" in Windows events (0x0)


def _process(name: str | None, exe: str | None, pid: object, cmd_line: str | None) -> dict | None:
    pid = _pid(pid)
    if pid is None:
        return None  # OCSF identifies a process by pid (or uid, which alerts do not have)
    process = {"pid": pid}
    if name is None and exe is not None:
        name = basename(exe)
    if name:
        process["name"] = cut(name)
    if cmd_line is not None:
        process["cmd_line"] = cut(cmd_line)
    if exe is not None:
        process["file"] = _file(exe, None)
    return process


def _map_process(data: dict | None, whodata: dict | None) -> dict | None:
    if data is not None:
        audit = data.get("audit")
        if type(audit) is dict:
            process = _process(_text(audit, "command"), _text(audit, "exe"), audit.get("pid"), None)
            if process is not None:
                return process
        win = data.get("win")
        eventdata = win.get("eventdata") if type(win) is dict else None
        if type(eventdata) is dict:
            process = _process(None, _text(eventdata, "image"), eventdata.get("processId"),
                               _text(eventdata, "commandLine"))
            if process is not None:
                return process
    if whodata is not None:
        process = whodata.get("process")
        if type(process) is dict:
            return _process(None, _text(process, "name"), process.get("id"), None)
    return None


# Windows logon/logoff and credential events: targetUserName is the account that logged on
# (the actor); in every other event (account management 4720/4732, process creation, …) the
# subject is who acted and the target is what was acted on.
LOGON_EVENT_IDS = frozenset({"4624", "4625", "4634", "4647", "4648", "4768", "4769", "4771", "4776", "4778", "4779"})


def _windows_actor(eventdata: dict, system: object) -> str | None:
    event_id = _text(system, "eventID")
    keys = ("targetUserName",) if event_id in LOGON_EVENT_IDS else ("subjectUserName", "targetUserName")
    for key in keys:
        user = _text(eventdata, key)
        if user is not None and user != "-":
            return user
    return None


def map_evidences(alert: dict) -> list | None:
    """``[evidence]`` for a Detection Finding, or None when the alert names nothing of the kind."""
    data = alert.get("data")
    if type(data) is not dict:
        data = None
    syscheck = alert.get("syscheck")
    whodata = syscheck.get("audit") if type(syscheck) is dict else None
    if type(whodata) is not dict:
        whodata = None
    evidence = {}
    user = None
    if data is not None:
        win = data.get("win")
        eventdata = win.get("eventdata") if type(win) is dict else None
        if type(eventdata) is not dict:
            eventdata = None
        src = _endpoint(data, "srcip", "srcport")
        if src is None and eventdata is not None:
            src = _endpoint(eventdata, "ipAddress", "ipPort")
        if src is not None:
            evidence["src_endpoint"] = src
        dst = _endpoint(data, "dstip", "dstport")
        if dst is not None:
            evidence["dst_endpoint"] = dst
        user = _text(data, "srcuser") or _text(data, "dstuser")
        if user is None and eventdata is not None:
            user = _windows_actor(eventdata, win.get("system"))
    if user is None and whodata is not None:
        user = _text(whodata.get("user"), "name")
    if user is not None:
        evidence["actor"] = {"user": {"name": cut(user)}}
    file = _map_file(alert, data)
    if file is not None:
        evidence["file"] = file
    module = module_evidence(data) if data is not None else None  # CloudTrail, Office 365, Sysmon
    process = _map_process(data, whodata) if module is None or "process" not in module else None
    if process is not None:
        evidence["process"] = process
    if module is not None:
        evidence.update(module)  # richer than what the generic fields gave
    return [evidence] if evidence else None
