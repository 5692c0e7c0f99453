"""The gateway's keys under the data directory, each a file readable only by its owner: the Ed25519
signing key (PEM) and the key that encrypts stored Responses turns (32 random bytes)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SECRET_KEY_BYTES = 32  # AES-256


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        return _load(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key if _create(path, pem) else _load(path)


def load_or_create_secret_key(path: Path) -> bytes:
    """A symmetric key, created on first use; a file of any other size is refused, never replaced
    (a new key would make everything sealed under the old one unreadable)."""
    if not path.exists():
        _create(path, os.urandom(SECRET_KEY_BYTES))  # lost a race: the other process's key is read below
    key = path.read_bytes()
    if len(key) != SECRET_KEY_BYTES:
        raise ValueError(f"{path} does not hold a {SECRET_KEY_BYTES}-byte key ({len(key)} bytes)")
    return key


def _create(path: Path, data: bytes) -> bool:
    """Write a new key file with mode 0600; False if another process created it first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole and fsynced under a temporary name, then linked into place: the key file is never
    # seen empty or half-written (a power loss or a disk that fails right after start-up once left a
    # truncated PEM here, and with it every checkpoint unverifiable). link() fails if the name exists:
    # two replicas starting at once keep the first key, and the second loads it.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return True


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
