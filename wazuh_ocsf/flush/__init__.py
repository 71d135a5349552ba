"""Flush: sealed spool segments → Arrow tables → Parquet objects → every sink, exactly once."""
