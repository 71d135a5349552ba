"""Sinks: where finished Parquet objects go (a local directory, Security Lake's S3 bucket, …)."""
