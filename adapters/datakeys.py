"""Per-mailbox data keys (AES-256-GCM), wrapped by the deployment's master key.

Destroying a mailbox's data key makes every sealed field of its events
unreadable: that is the erasure. The row is deleted with SQLite's
secure_delete on, so the wrapped key does not survive in freed pages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, Engine, LargeBinary, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError

NONCE = 12
key_metadata = MetaData()
data_keys = Table(
    "data_keys",
    key_metadata,
    Column("mailbox_id", String(36), primary_key=True),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", String(40), nullable=False),
)


def new_master_key() -> str:
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def derived_key(master_key: str, purpose: str) -> bytes:
    """A key of its own for one purpose (a keyed hash, a CSRF token), derived from the master key."""
    return hmac.new(base64.b64decode(master_key), f"mailtrail {purpose}".encode(), hashlib.sha256).digest()


def fate_hasher(master_key: str) -> Callable[[str], str]:
    """The keyed hash a skipped message's fate is filed under (domain/fates.py): a key derived
    from the master key, so the log alone cannot confirm a guessed Message-ID."""
    key = derived_key(master_key, "message fates")

    def fate_hash(text: str) -> str:
        return hmac.new(key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]

    return fate_hash


def load_or_create_master_key(path: Path) -> str:
    """The master key kept beside an embedded store (0600); made on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_master_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def _encrypt(cipher: AESGCM, plaintext: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(NONCE)
    return nonce + cipher.encrypt(nonce, plaintext, associated)


def _decrypt(cipher: AESGCM, sealed: bytes, associated: bytes) -> bytes:
    return cipher.decrypt(sealed[:NONCE], sealed[NONCE:], associated)


class DataKeyStore:
    """Implements the Sealer port over a `data_keys` table in the live store."""

    def __init__(self, engine: Engine, master_key: str) -> None:
        self.engine = engine
        master = base64.b64decode(master_key)
        if len(master) != 32:
            raise ValueError("the master key must be 32 bytes, base64-encoded")
        self._master = AESGCM(master)
        self._keys: dict[str, AESGCM | None] = {}
        self._lock = threading.Lock()

    def seal(self, mailbox_id: str, plaintext: bytes) -> bytes:
        key = self._key(mailbox_id, create=True)
        assert key is not None
        return _encrypt(key, plaintext, mailbox_id.encode())

    def unseal(self, mailbox_id: str, sealed: bytes) -> bytes | None:
        key = self._key(mailbox_id, create=False)
        if key is None:
            return None
        try:
            return _decrypt(key, sealed, mailbox_id.encode())
        except InvalidTag:
            return None

    def destroy(self, mailbox_id: str) -> None:
        with self._lock, self.engine.begin() as conn:
            conn.execute(data_keys.delete().where(data_keys.c.mailbox_id == mailbox_id))
            self._keys[mailbox_id] = None

    def exists(self, mailbox_id: str) -> bool:
        return self._key(mailbox_id, create=False) is not None

    def _key(self, mailbox_id: str, create: bool) -> AESGCM | None:
        cached = self._keys.get(mailbox_id)
        if cached is not None:
            return cached
        with self._lock:
            if mailbox_id in self._keys and (self._keys[mailbox_id] is not None or not create):
                return self._keys[mailbox_id]
            wrapped = self._wrapped(mailbox_id)
            if wrapped is None and create:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(
                            data_keys.insert().values(
                                mailbox_id=mailbox_id,
                                wrapped=_encrypt(
                                    self._master, AESGCM.generate_key(bit_length=256), mailbox_id.encode()
                                ),
                                created_at=datetime.now(UTC).isoformat(),
                            )
                        )
                except IntegrityError:
                    pass  # another process made it first: use theirs
                wrapped = self._wrapped(mailbox_id)
            key = (
                AESGCM(_decrypt(self._master, wrapped, mailbox_id.encode())) if wrapped is not None else None
            )
            self._keys[mailbox_id] = key
            return key

    def _wrapped(self, mailbox_id: str) -> bytes | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(data_keys.c.wrapped).where(data_keys.c.mailbox_id == mailbox_id)
            ).scalar()
        return bytes(value) if value is not None else None
