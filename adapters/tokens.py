"""API bearer tokens: random, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from projections.tables import api_tokens

TOKEN_PREFIX = "mt_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(engine: Engine, workspace_id: str, member_id: str) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            api_tokens.insert().values(
                token_hash=_hash(token),
                workspace_id=workspace_id,
                member_id=member_id,
                created_at=datetime.now(UTC).isoformat(),
            )
        )
    return token


def resolve_token(engine: Engine, token: str) -> tuple[str, str] | None:
    """(workspace id, member id) of a token, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(api_tokens.c.workspace_id, api_tokens.c.member_id).where(
                api_tokens.c.token_hash == _hash(token)
            )
        ).first()
    return (row.workspace_id, row.member_id) if row else None


class SqlApiTokens:
    """The ApiTokens port over the view store's api_tokens table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def issue(self, workspace_id: str, member_id: str) -> str:
        return issue_token(self.engine, workspace_id, member_id)

    def resolve(self, token: str) -> tuple[str, str] | None:
        return resolve_token(self.engine, token)
