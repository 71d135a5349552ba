"""Operations: what an administrator asks of a running installation (status, doctor, replay)."""
