"""The lake side: Security Lake custom sources, their Glue role and table, and their checks."""
