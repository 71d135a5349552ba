"""The spool: the write-ahead log between the hook side and the flusher, and its dead letters."""
