"""The bureau's signing key (Ed25519, `cryptography`): it signs the hash of each sealed
inspection, so a receipt shows both the hash (content) and who vouches for it. The key is a
PEM file created on first use (mode 0600, never overwritten); its public key is published on
every receipt page. Ed25519 signatures are deterministic: the same key and hash always give
the same signature."""
from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class BureauKey:
    def __init__(self, private: Ed25519PrivateKey):
        self._private = private
        self.public = private.public_key()
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_b64 = base64.b64encode(raw).decode()
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]
        self.public_pem = self.public.public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    @classmethod
    def load_or_create(cls, path: Path) -> "BureauKey":
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            try:      # O_EXCL: two processes starting at once keep the first key
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(pem)
                    f.flush()
                    os.fsync(f.fileno())
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return cls(key)

    def sign(self, hash_hex: str) -> str:
        """Base64 of the Ed25519 signature over the hash's ASCII hex text."""
        return base64.b64encode(self._private.sign(hash_hex.encode("ascii"))).decode()


def verify(public_b64: str, hash_hex: str, signature_b64: str) -> bool:
    pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))
    try:
        pub.verify(base64.b64decode(signature_b64), hash_hex.encode("ascii"))
        return True
    except InvalidSignature:
        return False
