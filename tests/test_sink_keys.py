from __future__ import annotations

from pathlib import Path

import pytest

from wazuh_ocsf.config import load_settings
from wazuh_ocsf.errors import ConfigError
from wazuh_ocsf.sinks.base import ParquetObject, object_key


def obj(class_uid=2001):
    return ParquetObject(name="n.parquet", class_uid=class_uid, event_day="20240422", path=Path("/x"), rows=1, size=1)


def test_key_follows_security_lake_layout(tmp_path):
    env = {"SOURCE_LOCATION": "wazuh", "REGION": "eu-west-1", "ACCOUNT_ID": "123456789012"}
    settings = load_settings(wazuh_home=str(tmp_path), environ=env)
    assert (
        object_key(settings, obj()) == "ext/wazuh/region=eu-west-1/accountId=123456789012/eventDay=20240422/n.parquet"
    )


def test_key_for_class_without_destination_names_the_setting(tmp_path):
    env = {"SOURCE_LOCATION": "wazuh", "REGION": "eu-west-1", "ACCOUNT_ID": "external"}
    settings = load_settings(wazuh_home=str(tmp_path), environ=env)
    with pytest.raises(ConfigError, match="WAZUH_OCSF_DETECTION_FINDING_SOURCE"):
        object_key(settings, obj(2004))
