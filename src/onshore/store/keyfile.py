"""The gateway's Ed25519 signing key, kept as a PEM file readable only by its owner."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        return _load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # Written whole and fsynced under a temporary name, then linked into place: the key file is never
    # seen empty or half-written (a power loss or a disk that fails right after start-up once left a
    # truncated PEM here, and with it every checkpoint unverifiable). link() fails if the name exists:
    # two replicas starting at once keep the first key, and the second loads it.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _load(path)
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return key


def _load(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """For verification: never create a key (a new one would make every valid checkpoint look forged)."""
    if not path.exists():
        raise FileNotFoundError(f"no signing key at {path}; verify with the gateway's data directory or --jwks")
    return _load(path)
