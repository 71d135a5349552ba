"""``rule.mitre`` → OCSF ``attacks[]``: one attack per technique, tactics never paired by guess.

Wazuh's ``rule.mitre`` holds ``id`` (technique IDs such as ``T1078`` or ``T1078.003``),
``technique`` (their names, parallel to ``id``) and ``tactic``: the *union* of the tactics of
all those techniques, not parallel to ``id``. So which tactic belongs to which technique is
not in the alert, and this mapper does not invent it:

* one attack per technique ID, in the alert's order; a sub-technique (``T1078.003``) goes to
  ``sub_technique`` (with its name) and its parent ID (``T1078``) to ``technique``;
* names are attached only when ``technique`` is exactly as long as ``id``;
* exactly one tactic: every technique has that tactic (it is the only one there is), so it is
  attached to every attack;
* several tactics: the technique attacks carry no tactic, and each tactic gets an attack of its
  own (``tactic`` only); likewise every tactic when there is no technique at all.

Tactic names get their ATT&CK Enterprise IDs (``TA0005``) from a fixed table; an unknown
name is kept without ``uid``. ``version`` is the configured ATT&CK version, if any.
"""

from __future__ import annotations

from wazuh_ocsf.mapping.common import text_list

# MITRE ATT&CK Enterprise tactics (stable since v8; IDs never change once assigned).
TACTIC_UIDS = {
    "Reconnaissance": "TA0043",
    "Resource Development": "TA0042",
    "Initial Access": "TA0001",
    "Execution": "TA0002",
    "Persistence": "TA0003",
    "Privilege Escalation": "TA0004",
    "Defense Evasion": "TA0005",
    "Credential Access": "TA0006",
    "Discovery": "TA0007",
    "Lateral Movement": "TA0008",
    "Collection": "TA0009",
    "Command and Control": "TA0011",
    "Exfiltration": "TA0010",
    "Impact": "TA0040",
}


def _tactic(name: str) -> dict:
    uid = TACTIC_UIDS.get(name)
    return {"uid": uid, "name": name} if uid else {"name": name}


def map_attacks(mitre: object, attack_version: str | None, used: set) -> list | None:
    """``rule.mitre`` → ``attacks`` (None when there is nothing to map).

    Adds to ``used`` the ``rule.mitre.*`` paths that are fully represented in the result.
    """
    if type(mitre) is not dict:
        return None
    ids = text_list(mitre.get("id"))
    names = text_list(mitre.get("technique"))
    tactics = text_list(mitre.get("tactic"))
    if ids is None and tactics is None:
        return None
    if tactics is not None:
        used.add("rule.mitre.tactic")
    attacks = []
    if ids is not None:
        used.add("rule.mitre.id")
        if names is not None and len(names) == len(ids):
            used.add("rule.mitre.technique")
        else:
            names = None
        shared_tactic = _tactic(tactics[0]) if tactics is not None and len(tactics) == 1 else None
        for index, technique_id in enumerate(ids):
            name = names[index] if names is not None else None
            parent, dot, _ = technique_id.partition(".")
            if dot and parent:
                attack = {"technique": {"uid": parent}, "sub_technique": {"uid": technique_id}}
                if name:
                    attack["sub_technique"]["name"] = name
            else:
                attack = {"technique": {"uid": technique_id, "name": name} if name else {"uid": technique_id}}
            if shared_tactic is not None:
                attack["tactic"] = dict(shared_tactic)
            attacks.append(attack)
        if shared_tactic is not None:
            tactics = None
    if tactics is not None:
        for name in tactics:
            attacks.append({"tactic": _tactic(name)})
    if attack_version:
        for attack in attacks:
            attack["version"] = attack_version
    return attacks
