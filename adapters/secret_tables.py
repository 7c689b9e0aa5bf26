"""Tables that are not views: encrypted mailbox secrets, the IMAP UID ledger and OAuth states (0013).

They live in the view database (schema by alembic, revision 0002) but outside
`tables.metadata`, so replays and the view digest never touch them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, LargeBinary, MetaData, String, Table

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
