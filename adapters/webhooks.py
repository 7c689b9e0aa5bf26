"""Webhook adapters: the subscriptions and deliveries tables, the payloads read from the views,
and the sender (Standard Webhooks signatures, checked addresses, 10 s, no redirects)."""

from __future__ import annotations

import hashlib
import logging
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy import Engine, Row, and_, delete, select, tuple_, update
from standardwebhooks.webhooks import Webhook

from adapters.netcheck import HostRefusedError, Resolver
from adapters.outbound import resolve_checked
from adapters.persistence import writer_engine
from adapters.secret_tables import webhook_deliveries, webhooks
from application.errors import RuleViolationError
from application.ports import Delivery, NewDelivery, SendResult, Subscription
from domain.visibility import Viewer
from projections.record_queries import member_role
from projections.tables import emails
from projections.webhook_payloads import data_of, subscribed

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
MAX_ERROR = 300


def delivery_id(webhook_id: str, position: int, seq: int) -> str:
    """The same message id for a page turned into deliveries twice (a crash between the steps)."""
    digest = hashlib.sha256(f"{webhook_id}\x1e{position}\x1e{seq}".encode()).hexdigest()[:32]
    return f"msg_{digest}"


def _subscription(row: Row[Any]) -> Subscription:
    return Subscription(
        id=row.id, workspace_id=row.workspace_id, member_id=row.member_id, url=row.url,
        events=tuple(row.events), description=row.description, enabled=bool(row.enabled),
        disabled_reason=row.disabled_reason, position=int(row.position), created_at=row.created_at,
    )  # fmt: skip


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        id=row.id, webhook_id=row.webhook_id, position=int(row.position), seq=row.seq,
        event_type=row.event_type, body=row.payload, status=row.status, attempts=row.attempts,
        response_code=row.response_code, last_error=row.last_error, created_at=row.created_at,
        first_attempt_at=row.first_attempt_at, next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
    )  # fmt: skip


class SqlWebhookStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.writer = writer_engine(engine)

    def add(self, subscription: Subscription) -> None:
        s = subscription
        with self.writer.begin() as conn:
            conn.execute(webhooks.insert().values(
                id=s.id, workspace_id=s.workspace_id, member_id=s.member_id, url=s.url, events=list(s.events),
                description=s.description, enabled=s.enabled, disabled_reason=s.disabled_reason,
                position=s.position, created_at=s.created_at, updated_at=s.created_at,
            ))  # fmt: skip

    def get(self, webhook_id: str) -> Subscription | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)).first()
        return _subscription(row) if row is not None else None

    def page(self, workspace_id: str, member_id: str | None, after: tuple[str, str] | None,
             limit: int) -> list[Subscription]:  # fmt: skip
        statement = select(webhooks).where(webhooks.c.workspace_id == workspace_id)
        if member_id is not None:
            statement = statement.where(webhooks.c.member_id == member_id)
        if after is not None:
            statement = statement.where(tuple_(webhooks.c.created_at, webhooks.c.id) > tuple_(*after))
        statement = statement.order_by(webhooks.c.created_at, webhooks.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [_subscription(r) for r in conn.execute(statement)]

    def change(self, webhook_id: str, **fields: Any) -> None:
        with self.writer.begin() as conn:
            conn.execute(update(webhooks).where(webhooks.c.id == webhook_id).values(**fields))

    def remove(self, webhook_id: str) -> None:
        with self.writer.begin() as conn:
            conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id))
            conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id))

    def enabled(self) -> list[Subscription]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(webhooks).where(webhooks.c.enabled.is_(True)).order_by(webhooks.c.id))
            return [_subscription(r) for r in rows]

    def enqueue(
        self, webhook_id: str, previous: int, position: int, deliveries: Sequence[NewDelivery]
    ) -> bool:
        with self.writer.begin() as conn:
            moved = conn.execute(
                update(webhooks)
                .where(webhooks.c.id == webhook_id, webhooks.c.position == previous)
                .values(position=position)
            )
            if moved.rowcount != 1:
                conn.rollback()
                return False
            if deliveries:
                workspace_id = conn.execute(
                    select(webhooks.c.workspace_id).where(webhooks.c.id == webhook_id)
                ).scalar_one()
                now = datetime.now(UTC).isoformat()
                conn.execute(webhook_deliveries.insert(), [
                    {"id": delivery_id(webhook_id, d.position, d.seq), "webhook_id": webhook_id,
                     "workspace_id": workspace_id, "position": d.position, "seq": d.seq,
                     "event_type": d.event_type, "email_id": d.email_id, "payload": d.body, "status": "pending",
                     "attempts": 0, "created_at": now, "next_attempt_at": 0.0}
                    for d in deliveries
                ])  # fmt: skip
        return True

    def head(self, webhook_id: str) -> Delivery | None:
        found = self.pending(webhook_id, 1)
        return found[0] if found else None

    def pending(self, webhook_id: str, limit: int) -> list[Delivery]:
        d = webhook_deliveries.c
        statement = (
            select(webhook_deliveries)
            .where(d.webhook_id == webhook_id, d.status == "pending")
            .order_by(d.position, d.seq)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(statement)]

    def attempted(self, delivery_id: str, **fields: Any) -> None:
        if "last_error" in fields and fields["last_error"] is not None:
            fields["last_error"] = str(fields["last_error"])[:MAX_ERROR]
        with self.writer.begin() as conn:
            conn.execute(
                update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(**fields)
            )

    def attempted_many(self, changes: Sequence[tuple[str, dict[str, Any]]]) -> None:
        if not changes:
            return
        with self.writer.begin() as conn:
            for delivery_id, fields in changes:
                conn.execute(
                    update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(**fields)
                )

    def deliveries(self, webhook_id: str, after: tuple[int, int] | None, limit: int) -> list[Delivery]:
        """Newest first."""
        d = webhook_deliveries.c
        statement = select(webhook_deliveries).where(d.webhook_id == webhook_id)
        if after is not None:
            statement = statement.where(tuple_(d.position, d.seq) < tuple_(*after))
        statement = statement.order_by(d.position.desc(), d.seq.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(statement)]

    def delivery(self, webhook_id: str, delivery_id: str) -> Delivery | None:
        d = webhook_deliveries.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(webhook_deliveries).where(d.webhook_id == webhook_id, d.id == delivery_id)
            ).first()
        return _delivery(row) if row is not None else None

    def scrub(self) -> int:
        """Forget the bodies of deliveries whose email is gone from the views (its mailbox removed):
        a subject must not outlive its mailbox's erasure here."""
        d = webhook_deliveries.c
        gone = and_(d.email_id.is_not(None), d.payload.is_not(None), ~d.email_id.in_(select(emails.c.id)))
        with self.writer.begin() as conn:
            result = conn.execute(
                update(webhook_deliveries)
                .where(gone)
                .values(payload=None, status="erased", next_attempt_at=None)
                .execution_options(synchronize_session=False)
            )
        return int(result.rowcount or 0)


class SqlWebhookEvents:
    """The deliveries of a page of events: what each subscriber's member may see of them now."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def deliveries(
        self, events: Sequence[tuple[int, Any]], subscriptions: Sequence[Subscription]
    ) -> dict[str, list[NewDelivery]]:
        found: dict[str, list[NewDelivery]] = {s.id: [] for s in subscriptions}
        with self.engine.connect() as conn:
            viewers: dict[str, Viewer | None] = {}
            for s in subscriptions:
                role = member_role(conn, s.workspace_id, s.member_id)
                viewers[s.id] = Viewer(s.workspace_id, s.member_id, role) if role is not None else None
            made = [(position, event, subscribed(conn, position, event)) for position, event in events]
            for s in subscriptions:
                viewer = viewers[s.id]
                if viewer is None:
                    continue
                mine = [
                    (position, event, seq, c)
                    for position, event, candidates in made
                    for seq, c in enumerate(candidates)
                    if c.workspace_id == s.workspace_id and c.type in s.events
                ]
                datas = data_of(conn, viewer, [c for _, _, _, c in mine])
                for (position, event, seq, c), data in zip(mine, datas, strict=True):
                    if data is None:
                        continue
                    timestamp = event.timestamp.astimezone(UTC).isoformat()
                    body = orjson.dumps({"type": c.type, "timestamp": timestamp, "data": data}).decode()
                    found[s.id].append(NewDelivery(position, seq, c.type, body, c.email_id))
        return found


class HttpWebhookSender:
    """POSTs a signed body to an address checked at delivery (the one connected to: no second
    lookup), TLS verified against the URL's host name; 10 s; redirects not followed."""

    def __init__(self, allow_private: bool, resolver: Resolver = socket.getaddrinfo,
                 timeout: float = TIMEOUT_SECONDS) -> None:  # fmt: skip
        self.allow_private = allow_private
        self.resolver = resolver
        self.timeout = timeout
        self.client = httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False)

    def _target(self, url: str) -> tuple[httpx.URL, str, str]:
        """(the URL with the checked address as host, the Host header, the TLS name)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RuleViolationError("the webhook URL must be http:// or https:// with a host")
        if parts.username or parts.password:
            raise RuleViolationError("the webhook URL may not carry credentials")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise RuleViolationError("the webhook URL's port is not valid") from None
        try:
            addresses = resolve_checked(parts.hostname, port, allow_private=self.allow_private,
                                        resolver=self.resolver).addresses  # fmt: skip
        except HostRefusedError as error:
            raise RuleViolationError(str(error)) from None
        host_header = parts.netloc.rpartition("@")[2]
        return httpx.URL(url).copy_with(host=str(addresses[0]), port=port), host_header, parts.hostname

    def check(self, url: str) -> None:
        self._target(url)

    def send(self, url: str, message_id: str, body: str, secret: str) -> SendResult:
        try:
            target, host_header, name = self._target(url)
        except RuleViolationError as error:
            return SendResult(None, f"refused: {error}")
        now = datetime.now(UTC)
        headers = {
            "Host": host_header,
            "Content-Type": "application/json",
            "User-Agent": "mailtrail-webhooks",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, now, body),
        }
        extensions = {"sni_hostname": name} if target.scheme == "https" else {}
        try:
            response = self.client.post(target, content=body.encode(), headers=headers, extensions=extensions)
        except httpx.HTTPError as error:
            log.info("webhook delivery to %s failed: %s", host_header, error)
            return SendResult(None, f"could not deliver to {host_header}: {type(error).__name__}")
        return SendResult(response.status_code)

    def close(self) -> None:
        self.client.close()


__all__ = ["HttpWebhookSender", "SqlWebhookEvents", "SqlWebhookStore", "delivery_id"]
