"""Wazuh rule compliance tags → OCSF ``compliance`` and ``cis_csc`` (Security Finding only).

Wazuh tags rules with requirement IDs per standard (``rule.pci_dss``, ``rule.gdpr``,
``rule.hipaa``, ``rule.nist_800_53``, ``rule.tsc``, ``rule.gpg13``). OCSF 1.1.0's
``compliance`` object has ``standards`` (names) and ``requirements`` (free text), so each
requirement is written with its standard in front (``PCI DSS 10.2.4``) to stay unambiguous
in one flat list. OCSF's ``nist`` is "the NIST Cybersecurity Framework recommendations",
not SP 800-53 controls, so ``rule.nist_800_53`` goes only into ``compliance``. Detection
Finding 1.1.0 has no ``compliance``; there these tags stay in ``unmapped``.

An SCA or CIS-CAT check alert's own result comes first: the policy or benchmark and the
check's tags as ``standards``/``requirements``, the check id as ``control``, the result as
``status_id``/``status`` (as Compliance Finding maps it); the rule's tags follow.
``rule.cis_csc`` (CIS Critical Security Controls) becomes ``cis_csc[]`` (``control``).
"""

from __future__ import annotations

from wazuh_ocsf.mapping.common import MAX_STRING, cut, text_list

# (rule key, standard's name), in output order.
STANDARDS = (
    ("pci_dss", "PCI DSS"),
    ("gdpr", "GDPR"),
    ("hipaa", "HIPAA"),
    ("nist_800_53", "NIST SP 800-53"),
    ("tsc", "TSC"),
    ("gpg13", "GPG13"),
)


_STANDARDS = tuple((key, standard, standard + " ", "rule." + key) for key, standard in STANDARDS)


def map_cis_csc(rule: dict, used: set) -> list | None:
    """``rule.cis_csc`` → OCSF ``cis_csc[]`` (one ``{"control": …}`` per tag), else None."""
    tags = text_list(rule.get("cis_csc"))
    if tags is None:
        return None
    used.add("rule.cis_csc")
    return [{"control": tag} for tag in tags]


def map_compliance(rule: dict, used: set, check: dict | None = None) -> dict | None:
    """``rule`` (and the ``check`` compliance of an SCA/CIS-CAT alert, first) → ``compliance``,
    None when there is neither."""
    standards = list(check["standards"]) if check else []
    requirements = list(check.get("requirements", ())) if check else []
    for key, standard, prefix, path in _STANDARDS:
        tags = rule.get(key)
        if tags is None:
            continue
        if type(tags) is list and tags and "" not in tags:
            # text_list's checks without its copy: join() refuses anything but strings.
            try:
                joined = "".join(tags)
            except TypeError:
                continue
            if len(joined) > MAX_STRING:
                tags = text_list(tags)  # the long tags cut first, as text_list cuts them
        else:
            tags = text_list(tags)  # one string, or a list it refuses
            if tags is None:
                continue
        used.add(path)
        standards.append(standard)
        requirements.extend(map(prefix.__add__, tags))  # "PCI DSS " + each tag, without a Python loop
    if not standards:
        return None
    if requirements and max(map(len, requirements)) > MAX_STRING:
        requirements = [cut(requirement) for requirement in requirements]
    compliance = {"standards": list(dict.fromkeys(standards))}
    if requirements:
        compliance["requirements"] = requirements
    if check:
        compliance.update((key, value) for key, value in check.items() if key not in compliance)
    return compliance
