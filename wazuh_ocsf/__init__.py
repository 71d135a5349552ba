"""wazuh-ocsf: ship every Wazuh alert to Amazon Security Lake as OCSF Parquet."""

__version__ = "0.1.0"
