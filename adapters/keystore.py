"""The KeyStore port: mailbox secrets (passwords, tokens) sealed with AES-256-GCM.

The key is derived (HKDF-SHA256) from the deployment's master key, so it is never
the same key as the data keys. Each ciphertext is bound to its mailbox id (AEAD
associated data): a row copied onto another mailbox does not decrypt."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from datetime import UTC, datetime

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, delete, select

from adapters.persistence import writer_engine
from adapters.secret_tables import mailbox_secrets

NONCE_BYTES = 12
_PURPOSE = b"mailtrail/mailbox-secrets/v1"


class KeyStoreError(RuntimeError):
    """A stored secret cannot be read with this deployment's key."""


def derive_key(master_key: str) -> bytes:
    master = base64.b64decode(master_key)
    if len(master) < 32:
        raise KeyStoreError("the master key must be at least 32 bytes (base64)")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(master)


class SqlKeyStore:
    """Secrets in `mailbox_secrets`, one encrypted JSON object per owner id."""

    def __init__(self, engine: Engine, master_key: str) -> None:
        self.engine = engine
        self._key = derive_key(master_key)
        self.key_id = hashlib.sha256(self._key).hexdigest()[:16]

    def put(self, owner_id: str, secret: Mapping[str, str]) -> None:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + AESGCM(self._key).encrypt(nonce, orjson.dumps(dict(secret)), _aad(owner_id))
        row = {
            "mailbox_id": owner_id,
            "key_id": self.key_id,
            "ciphertext": sealed,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        with writer_engine(self.engine).begin() as conn:
            conn.execute(delete(mailbox_secrets).where(mailbox_secrets.c.mailbox_id == owner_id))
            conn.execute(mailbox_secrets.insert().values(**row))

    def get(self, owner_id: str) -> dict[str, str] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(mailbox_secrets.c.key_id, mailbox_secrets.c.ciphertext).where(
                    mailbox_secrets.c.mailbox_id == owner_id
                )
            ).first()
        if row is None:
            return None
        if row.key_id != self.key_id:
            raise KeyStoreError(f"the secret of {owner_id} was sealed with another master key")
        sealed = bytes(row.ciphertext)
        try:
            plaintext = AESGCM(self._key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(owner_id))
        except InvalidTag:
            raise KeyStoreError(f"the secret of {owner_id} does not decrypt") from None
        secret: dict[str, str] = orjson.loads(plaintext)
        return secret

    def delete(self, owner_id: str) -> None:
        with writer_engine(self.engine).begin() as conn:
            conn.execute(delete(mailbox_secrets).where(mailbox_secrets.c.mailbox_id == owner_id))

    def owners(self) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(mailbox_secrets.c.mailbox_id).order_by(mailbox_secrets.c.mailbox_id))
            return [r.mailbox_id for r in rows]


def _aad(owner_id: str) -> bytes:
    return f"mailbox-secret:{owner_id}".encode()
