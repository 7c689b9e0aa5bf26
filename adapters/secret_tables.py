"""Tables that are not views: encrypted mailbox secrets, the IMAP UID ledger and OAuth states (0013).

They live in the view database (schema by alembic, revision 0002) but outside
`tables.metadata`, so replays and the view digest never touch them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

secret_metadata = MetaData()

ID = String(36)

mailbox_secrets = Table(
    "mailbox_secrets",
    secret_metadata,
    Column("mailbox_id", ID, primary_key=True),
    Column("key_id", String(16), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("updated_at", String(40), nullable=False),
)

imap_uids = Table(
    "imap_uids",
    secret_metadata,
    Column("mailbox_id", ID, primary_key=True),
    Column("folder", String(512), primary_key=True),
    Column("uidvalidity", BigInteger, primary_key=True),
    Column("uid", BigInteger, primary_key=True),
    Column("copy_id", ID),
    Index("ix_imap_uids_copy", "mailbox_id", "copy_id"),
)

oauth_states = Table(
    "oauth_states",
    secret_metadata,
    Column("state_hash", String(64), primary_key=True),  # sha256 of the state: the state itself is not kept
    Column("mailbox_id", ID, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),  # the pending authorization, verifier included
    Column("expires_at", Float, nullable=False),
    Index("ix_oauth_states_mailbox", "mailbox_id"),
)

# Webhook subscriptions and their deliveries (revision 0015); each secret is sealed in
# `mailbox_secrets` under the subscription's id (adapters/keystore.py).
webhooks = Table(
    "webhooks",
    secret_metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("member_id", ID, nullable=False),
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False),
    Column("description", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", Text),
    Column("position", BigInteger, nullable=False),  # the last log position turned into deliveries
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Index("ix_webhooks_workspace", "workspace_id", "created_at", "id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    secret_metadata,
    Column("id", String(64), primary_key=True),  # the webhook-id header: the same on every attempt
    Column("webhook_id", ID, nullable=False),
    Column("workspace_id", ID, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("email_id", ID),
    Column("payload", Text),  # NULL once scrubbed (the email's content erased)
    Column("status", String(16), nullable=False),  # pending | delivered | failed | erased
    Column("attempts", Integer, nullable=False),
    Column("response_code", Integer),
    Column("last_error", Text),
    Column("created_at", String(40), nullable=False),
    Column("first_attempt_at", Float),
    Column("next_attempt_at", Float),
    Column("delivered_at", String(40)),
    Index("ix_webhook_deliveries_order", "webhook_id", "position", "seq", unique=True),
    Index("ix_webhook_deliveries_status", "webhook_id", "status", "position"),
    Index("ix_webhook_deliveries_email", "workspace_id", "email_id"),
)
