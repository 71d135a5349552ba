"""The wazuh-ocsf installer: installs, upgrades and uninstalls wazuh-ocsf on a Wazuh 4.x manager.

Run it through ``installer/install.sh``. Everything it does is planned first (:mod:`.plan`), so
``--dry-run`` shows exactly what a real run would change, and nothing is changed when a check fails.
"""

from wazuh_ocsf.operations.ossec_conf import INTEGRATION_NAME

__all__ = ["INTEGRATION_NAME"]
