"""The hook side: what ``wazuh-integratord`` runs once per alert (entry, run) and its byte-code bundle."""
