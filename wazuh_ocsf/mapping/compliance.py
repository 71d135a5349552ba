"""Wazuh rule compliance tags → OCSF ``compliance`` (Security Finding only).

Wazuh tags rules with requirement IDs per standard (``rule.pci_dss``, ``rule.gdpr``,
``rule.hipaa``, ``rule.nist_800_53``, ``rule.tsc``, ``rule.gpg13``). OCSF 1.1.0's
``compliance`` object has ``standards`` (names) and ``requirements`` (free text), so each
requirement is written with its standard in front (``PCI DSS 10.2.4``) to stay unambiguous
in one flat list. OCSF's ``nist`` is "the NIST Cybersecurity Framework recommendations",
not SP 800-53 controls, so ``rule.nist_800_53`` goes only into ``compliance``. Detection
Finding 1.1.0 has no ``compliance``; there these tags stay in ``unmapped``.
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


def map_compliance(rule: dict, used: set) -> dict | None:
    """``rule`` → ``compliance``, None when the rule has no such tags."""
    standards = []
    requirements = []
    for key, standard, prefix, path in _STANDARDS:
        tags = rule.get(key)
        if tags is None:
            continue
        tags = text_list(tags)
        if tags is None:
            continue
        used.add(path)
        standards.append(standard)
        requirements.extend(map(prefix.__add__, tags))  # "PCI DSS " + each tag, without a Python loop
    if not standards:
        return None
    if max(map(len, requirements)) > MAX_STRING:
        requirements = [cut(requirement) for requirement in requirements]
    return {"standards": standards, "requirements": requirements}
