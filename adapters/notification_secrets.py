"""The NotificationSecrets port: a Graph subscription's `clientState` is the mailbox id and an
HMAC-SHA256 of it under a key derived from the master key. A notification proves itself by
its clientState (no state kept); a forged one, or one for another deployment, is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PURPOSE = b"mailtrail/graph-client-state/v1"


class HmacNotificationSecrets:
    def __init__(self, master_key: str) -> None:
        master = base64.b64decode(master_key)
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(master)

    def _tag(self, mailbox_id: str) -> str:
        digest = hmac.new(self._key, mailbox_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def client_state(self, mailbox_id: str) -> str:
        return f"{mailbox_id}.{self._tag(mailbox_id)}"  # 80 characters: Graph allows 128

    def mailbox_of(self, client_state: str) -> str | None:
        mailbox_id, _, tag = client_state.rpartition(".")
        if not mailbox_id or not hmac.compare_digest(tag.encode(), self._tag(mailbox_id).encode()):
            return None
        return mailbox_id
