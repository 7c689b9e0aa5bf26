"""The SendIndex port over the outbox view (projections/send_queries.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from application.ports import DueSend
from projections.send_queries import due_sends, scheduled_count


class ViewSendIndex:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def due(self, now: datetime, limit: int) -> list[DueSend]:
        with self.engine.connect() as conn:
            return [DueSend(send_id, mailbox_id) for send_id, mailbox_id in due_sends(conn, now, limit)]

    def scheduled(self, workspace_id: str) -> int:
        with self.engine.connect() as conn:
            return scheduled_count(conn, workspace_id)
