"""Capture addresses' tokens and the slug directory.

A token is never stored: it is an HMAC-SHA256, under a key derived (HKDF) from the deployment's
master key, of (workspace, member, generation), 16 base32 characters (80 bits). Rotating the
address bumps the generation (an event that carries only the number), so the old token stops
matching; checking one means computing it again."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine

from projections.capture_views import members_with_slug

_PURPOSE = b"mailtrail/capture-address/v1"
TOKEN_CHARS = 16


class HmacCaptureTokens:
    """The CaptureTokens port."""

    def __init__(self, master_key: str) -> None:
        master = base64.b64decode(master_key)
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(master)

    def token(self, workspace_id: str, member_id: str, generation: int) -> str:
        message = f"{workspace_id}\x1f{member_id}\x1f{generation}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.b32encode(digest).decode("ascii").lower()[:TOKEN_CHARS]


class SqlCaptureDirectory:
    """The CaptureDirectory port over the capture_addresses view."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def members_with_slug(self, slug: str) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            return members_with_slug(conn, slug)
