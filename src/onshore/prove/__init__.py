"""Prove: the hash-chained audit log, signed checkpoints and signed residency receipts."""
