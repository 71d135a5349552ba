"""Readers: ``alerts.json`` and its archives, mapped and spooled in bulk (follow, backfill, gap fill)."""
