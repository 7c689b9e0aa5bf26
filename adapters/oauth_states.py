"""The OAuthStates port: single-use `state` values in `oauth_states`.

Only the state's SHA-256 is kept (the key of its row); the pending authorization (mailbox,
member, provider, PKCE verifier) is sealed with AES-256-GCM under a key derived from the master
key, bound to that hash. Taking a state deletes its row in the same statement, so a state is
used once even by two callbacks racing; a tampered or unknown state finds no row."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import asdict

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, delete

from adapters.persistence import writer_engine
from adapters.secret_tables import oauth_states
from application.ports import PendingAuthorization

NONCE_BYTES = 12
_PURPOSE = b"mailtrail/oauth-states/v1"


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class SqlOAuthStates:
    def __init__(self, engine: Engine, master_key: str) -> None:
        self.engine = engine
        master = base64.b64decode(master_key)
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(master)

    def issue(self, pending: PendingAuthorization, expires_at: float) -> str:
        state = secrets.token_urlsafe(32)
        key = _hash(state)
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + AESGCM(self._key).encrypt(nonce, orjson.dumps(asdict(pending)), key.encode())
        with writer_engine(self.engine).begin() as conn:
            conn.execute(delete(oauth_states).where(oauth_states.c.mailbox_id == pending.mailbox_id))
            conn.execute(
                oauth_states.insert().values(
                    state_hash=key, mailbox_id=pending.mailbox_id, ciphertext=sealed, expires_at=expires_at
                )
            )
        return state

    def take(self, state: str, now: float) -> PendingAuthorization | None:
        key = _hash(state)
        with writer_engine(self.engine).begin() as conn:
            row = conn.execute(
                delete(oauth_states)
                .where(oauth_states.c.state_hash == key)
                .returning(oauth_states.c.ciphertext, oauth_states.c.expires_at)
            ).first()
            conn.execute(delete(oauth_states).where(oauth_states.c.expires_at < now))  # the abandoned ones
        if row is None or row.expires_at < now:
            return None
        sealed = bytes(row.ciphertext)
        try:
            plain = AESGCM(self._key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], key.encode())
        except InvalidTag:
            return None
        return PendingAuthorization(**orjson.loads(plain))
