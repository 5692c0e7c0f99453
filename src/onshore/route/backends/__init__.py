"""One small adapter per provider wire format: bytes in, bytes out, no I/O."""
