"""Read-model tables (SQLAlchemy Core). The schema itself is owned by alembic migrations."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    true,
)

metadata = MetaData()

ID = String(36)

tracking = Table(
    "view_tracking",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("member_id", ID, nullable=False),
    Column("created_at", String(40), nullable=False),
)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("signup_domain", String(255), nullable=False),
    Column("plan", String(16), nullable=False),
    Column("record_creation", String(16), nullable=False),
    Column("internal_domains", JSON, nullable=False),
    Column("exclusions", JSON, nullable=False),
    Column("member_addresses", JSON, nullable=False),
    Column("mailbox_addresses", JSON, nullable=False),
    Column("legal_hold", Boolean, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("auto_internal_domains", Boolean, nullable=False, server_default=true()),
    Column("send_limits", JSON),  # {"per_hour", "per_day", "spacing_seconds"}; NULL: the defaults
)

members = Table(
    "members",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("emails", JSON, nullable=False),
    Column("created_at", String(40), nullable=False),
)

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False, index=True),
    Column("owner_id", ID, nullable=False),
    Column("provider", String(16), nullable=False),
    Column("address", String(320), nullable=False),
    Column("aliases", JSON, nullable=False),
    Column("sharing", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text, nullable=False),
    Column("blocklist", JSON, nullable=False),
    Column("blocklist_at", JSON, nullable=False),
    Column("cursors", JSON, nullable=False),
    Column("synced", Integer, nullable=False),
    Column("skipped", JSON, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("sharing_at", BigInteger, nullable=False),
    Column("removed_at", BigInteger),
    Column("erased_at", BigInteger),
    Column("last_sync_at", String(40)),
    Column("last_error", Text),  # the reason of the last `error` status, kept after it clears
    Column("last_error_at", String(40)),
    Column("created_at", String(40), nullable=False),
)

emails = Table(
    "emails",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("message_id", Text),
    Column("subject", Text, nullable=False),
    Column("sent_at", String(40)),
    Column("from_address", String(320)),
    Column("in_reply_to", Text),
    Column("thread_key", Text, nullable=False),
    Index("ix_emails_workspace_sent", "workspace_id", "sent_at", "id"),  # /emails keyset pages
    Index("ix_emails_workspace_thread", "workspace_id", "thread_key"),
    Index("ix_emails_workspace_message_id", "workspace_id", "message_id"),  # diagnostics' lookup
)

email_copies = Table(
    "email_copies",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email_id", ID, nullable=False, index=True),
    Column("workspace_id", ID, nullable=False),
    Column("mailbox_id", ID, nullable=False, index=True),
    Column("folder", Text, nullable=False),
    Column("direction", String(8), nullable=False),
    Column("sent_at", String(40)),
    Column("thread_key", Text, nullable=False),
    Column("position", BigInteger, nullable=False),
    # Each hiding rule keeps the position of the event that set it; NULL = not hidden by it.
    Column("expunged_at", BigInteger),
    Column("internal_at", BigInteger),
    Column("excluded_at", BigInteger),
    Column("blocklisted_at", BigInteger),
    Column("blocklisted_entry", String(320)),
    Column("bulk", Boolean, nullable=False, server_default=false()),  # mass mail (List-*, Precedence)
    Index("ix_email_copies_workspace", "workspace_id"),
)

grants = Table(
    "grants",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("copy_id", ID, nullable=False),
    Column("mailbox_id", ID, nullable=False, index=True),
    Column("email_id", ID, nullable=False),
    Column("thread_key", Text, nullable=False),
    Column("thread", Boolean, nullable=False),
    Column("members", JSON, nullable=False),
    Column("everyone", Boolean, nullable=False),
    Column("granted_by", ID, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
)

email_participants = Table(
    "email_participants",
    metadata,
    Column("copy_id", ID, primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("role", String(8), primary_key=True),
    Column("email_id", ID, nullable=False),
    Column("workspace_id", ID, nullable=False),
    Column("name", Text, nullable=False),
    Column("domain", String(255), nullable=False),
    # The copy's facts a record's email list and interactions need, kept on the row so that a
    # record's emails are one index range in time order (projections/record_emails.py):
    Column("sent_at", String(40), nullable=False, server_default=""),  # '' when the copy has no date
    Column("owner_id", ID, nullable=False, server_default=""),  # the copy's mailbox's owner
    Column("direction", String(8), nullable=False, server_default=""),
    Column("hidden", Boolean, nullable=False, server_default=false()),  # the copy is hidden by a rule
    Index("ix_participants_address_time", "workspace_id", "address", "sent_at", "email_id"),
    Index("ix_participants_domain_time", "workspace_id", "domain", "sent_at", "email_id"),
)

unparsed_participants = Table(
    # Participants whose address did not normalise (domain.values.lenient_address): never records
    # nor shown, but screened by blocklists and exclusions, also by entries added later.
    "unparsed_participants",
    metadata,
    Column("copy_id", ID, primary_key=True),
    Column("address", Text, primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("domain", Text, nullable=False),  # unparsed: may be over-long
    Index("ix_unparsed_participants_workspace_domain", "workspace_id", "domain"),
)

people = Table(
    "people",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("origin", JSON, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("merged_into", ID),
    Index("ix_people_workspace_created", "workspace_id", "created_at", "id"),
)

person_addresses = Table(
    "person_addresses",
    metadata,
    Column("workspace_id", ID, primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("person_id", ID, nullable=False, index=True),
    Column("domain", String(255), nullable=False),
    Column("bouncing", Boolean, nullable=False, server_default=false()),  # a delivery report said it fails
)

companies = Table(
    "companies",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("domain", String(255), nullable=False),
    Column("name", Text, nullable=False),
    Column("origin", JSON, nullable=False),
    Column("created_at", String(40), nullable=False),
    Index("ix_companies_workspace_domain", "workspace_id", "domain", unique=True),
    Index("ix_companies_workspace_created", "workspace_id", "created_at", "id"),
)

leads = Table(
    "leads",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Index("ix_leads_workspace_created", "workspace_id", "created_at", "id"),
)

lead_contacts = Table(
    "lead_contacts",
    metadata,
    Column("lead_id", ID, primary_key=True),
    Column("person_id", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Index("ix_lead_contacts_person", "person_id"),
)

lead_emails = Table(
    "lead_emails",
    metadata,
    Column("lead_id", ID, primary_key=True),
    Column("email_id", ID, primary_key=True),
    # '' for an association every member sees; a member id when only that member's own
    # copies make it (their Bcc of a contact): nobody else sees it.
    Column("bcc_owner", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("sent_at", String(40), nullable=False),  # '' when the email has no date
    Column("via", String(8), nullable=False),  # "contact" or "reply" (the lead reply rule)
    Index("ix_lead_emails_time", "lead_id", "sent_at", "email_id"),
)

threads = Table(
    "threads",
    metadata,
    Column("id", ID, primary_key=True),  # stable_id("thread", workspace, thread_key)
    Column("workspace_id", ID, nullable=False),
    Column("thread_key", Text, nullable=False),
    Column("first_email_id", ID, nullable=False),  # the email whose subject names the thread
    Column("first_at", String(40), nullable=False),  # '' when no email of it has a date
    Column("last_at", String(40), nullable=False),
    Column("emails", Integer, nullable=False),  # visible emails
    Index("ix_threads_workspace_last", "workspace_id", "last_at", "id"),
)

thread_addresses = Table(
    "thread_addresses",
    metadata,
    Column("thread_id", ID, primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("domain", String(255), nullable=False),
    Column("last_at", String(40), nullable=False),
    Index("ix_thread_addresses_address", "workspace_id", "address", "last_at", "thread_id"),
    Index("ix_thread_addresses_domain", "workspace_id", "domain", "last_at", "thread_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("workspace_id", ID, nullable=False),
    Column("aggregate_type", String(64), nullable=False),
    Column("aggregate_id", ID, nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_type", String(96), nullable=False),
    Column("occurred_at", String(40), nullable=False),
    Index("ix_audit_log_workspace_position", "workspace_id", "position"),
    Index("ix_audit_log_aggregate", "aggregate_id"),
)

# Kept summaries (projections/interaction_views.py, strength_views.py). `viewer` is '' for
# what every member sees, or a member id for that member's own figures where their Bcc of
# their own copies is part of them (the Bcc rule); a viewer reads their row, else the ''.
record_summaries = Table(
    "record_summaries",
    metadata,
    Column("kind", String(8), primary_key=True),  # person, company, lead
    Column("record_id", ID, primary_key=True),
    Column("viewer", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("created_at", String(40), nullable=False),  # the record's, for the sorts' ties
    Column("email_count", Integer, nullable=False),  # distinct visible emails
    Column("first_at", String(40), nullable=False),  # '' without a dated interaction
    Column("first_member", ID, nullable=False),
    Column("first_direction", String(8), nullable=False),
    Column("first_email", ID, nullable=False),
    Column("last_at", String(40), nullable=False),
    Column("last_member", ID, nullable=False),
    Column("last_direction", String(8), nullable=False),
    Column("last_email", ID, nullable=False),
    Column("score", Float, nullable=False),  # best connection strength as of strength_clock
)
Index(
    "ix_record_summaries_last",
    record_summaries.c.workspace_id,
    record_summaries.c.kind,
    record_summaries.c.viewer,
    record_summaries.c.last_at.desc(),
    record_summaries.c.created_at,
    record_summaries.c.record_id,
)
Index(
    "ix_record_summaries_score",
    record_summaries.c.workspace_id,
    record_summaries.c.kind,
    record_summaries.c.viewer,
    record_summaries.c.score.desc(),
    record_summaries.c.created_at,
    record_summaries.c.record_id,
)

# Per member and record (person or company): the member's interactions with it (the
# counterpart rule of projections/intelligence_queries.py); variant '' without Bcc, 'own'
# with the member's own Bcc (seen by that member only; kept only where it differs).
# Person rows also keep the connection's strength totals (domain.strength.Totals).
record_members = Table(
    "record_members",
    metadata,
    Column("kind", String(8), primary_key=True),
    Column("record_id", ID, primary_key=True),
    Column("member_id", ID, primary_key=True),
    Column("variant", String(4), primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("sent", Integer, nullable=False),  # distinct emails
    Column("received", Integer, nullable=False),
    Column("first_at", String(40), nullable=False),  # isoformat in UTC
    Column("first_direction", String(8), nullable=False),
    Column("last_at", String(40), nullable=False),
    Column("last_direction", String(8), nullable=False),
    Column("s_sent", Float, nullable=False),
    Column("s_received", Float, nullable=False),
    Column("s_mass", Float, nullable=False),
    Column("n_sent", Integer, nullable=False),
    Column("n_received", Integer, nullable=False),
    Column("n_mass", Integer, nullable=False),
    Column("n_direct_sent", Integer, nullable=False),
    Column("n_direct_received", Integer, nullable=False),
    Column("window_days", Integer, nullable=False),  # as of strength_clock
    Column("score", Float, nullable=False),  # as of strength_clock
    Index("ix_record_members_workspace", "workspace_id", "kind"),
)

# Per connection (person, member, variant) and UTC day with direct mail: its latest direct
# moment (fixed-width UTC text), for the regularity window when as_of moves.
strength_days = Table(
    "strength_days",
    metadata,
    Column("person_id", ID, primary_key=True),
    Column("member_id", ID, primary_key=True),
    Column("variant", String(4), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("last_direct", String(32), nullable=False),
    Index("ix_strength_days_window", "workspace_id", "last_direct"),
)

# Per workspace, the as_of the kept scores are at: the newest visible email ('' for none).
strength_clock = Table(
    "strength_clock",
    metadata,
    Column("workspace_id", ID, primary_key=True),
    Column("as_of", String(40), nullable=False),
)

# A message a mailbox skipped or rejected, content-free (domain/fates.py): the keyed hash of its
# Message-ID (or sender and minute), the reason and the rule's entry, first met at `position`.
message_fates = Table(
    "message_fates",
    metadata,
    Column("mailbox_id", ID, primary_key=True),
    Column("fate_hash", String(32), primary_key=True),
    Column("reason", String(64), primary_key=True),
    Column("entry", String(320), nullable=False),
    Column("workspace_id", ID, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("occurred_at", String(40), nullable=False),
)

# Per mailbox and month of syncing (UTC): the messages its batches stored, skipped and rejected.
mailbox_months = Table(
    "mailbox_months",
    metadata,
    Column("mailbox_id", ID, primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("stored", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
)

# Members by the readable half of their capture address (not unique: the token decides).
capture_addresses = Table(
    "capture_addresses",
    metadata,
    Column("member_id", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("slug", String(40), nullable=False, index=True),
)

# The outbox: one row per send (ids, times, status; no addresses or content). Times are UTC ISO
# with microseconds, so they compare as strings.
sends = Table(
    "sends",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("mailbox_id", ID, nullable=False, index=True),
    Column("sender_id", ID, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("batch_id", ID),
    Column("message_id", Text, nullable=False),
    Column("thread_key", Text, nullable=False),
    Column("email_id", ID),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("queued_at", String(40), nullable=False),
    Column("next_at", String(40)),  # when it goes (asked, deferred, or an attempt's lease); NULL: at once
    Column("sent_at", String(40)),
    Column("queued_position", BigInteger, nullable=False),  # sends that are due go in the order queued
    Column("position", BigInteger, nullable=False),
    Index("ix_sends_sender", "workspace_id", "sender_id", "queued_at", "id"),  # GET /sends keyset pages
    Index("ix_sends_due", "status", "next_at"),
)

# Calendars (projections/meeting_views.py): the connected calendars, each calendar's copy of a
# meeting, its participants, and per meeting the addresses of the copies that count (not
# retracted, not removed, not declined by their owner), which records' meetings are read from.
calendars = Table(
    "calendars",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False, index=True),
    Column("owner_id", ID, nullable=False),
    Column("provider", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("username", Text, nullable=False),
    Column("sharing", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text, nullable=False),
    Column("cursors", JSON, nullable=False),
    Column("synced", Integer, nullable=False),
    Column("skipped", JSON, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("removed_at", BigInteger),
    Column("erased_at", BigInteger),
    Column("last_sync_at", String(40)),
    Column("created_at", String(40), nullable=False),
)

meeting_copies = Table(
    "meeting_copies",
    metadata,
    Column("id", ID, primary_key=True),
    Column("meeting_id", ID, nullable=False, index=True),
    Column("workspace_id", ID, nullable=False),
    Column("calendar_id", ID, nullable=False, index=True),
    Column("owner_id", ID, nullable=False),
    Column("starts_at", String(40), nullable=False),
    Column("ends_at", String(40), nullable=False),
    Column("all_day", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("response", String(16), nullable=False),  # the owner's: organizer, accepted, declined...
    Column("organizer", String(320), nullable=False),  # '' when none
    Column("title", Text, nullable=False),
    Column("location", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("position", BigInteger, nullable=False),  # of the event that set these details
    Column("retracted_at", BigInteger),
    Column("retracted_reason", String(32)),
    Column("hidden", Boolean, nullable=False),  # retracted, or its calendar removed
    Index("ix_meeting_copies_workspace", "workspace_id"),
)

meeting_participants = Table(
    "meeting_participants",
    metadata,
    Column("copy_id", ID, primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("meeting_id", ID, nullable=False, index=True),
    Column("workspace_id", ID, nullable=False),
    Column("name", Text, nullable=False),
    Column("role", String(16), nullable=False),  # organizer, attendee, resource
    Column("partstat", String(16), nullable=False),
)

meeting_attendance = Table(
    "meeting_attendance",
    metadata,
    Column("workspace_id", ID, primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("meeting_id", ID, primary_key=True),
    Column("domain", String(255), nullable=False),
    Column("starts_at", String(40), nullable=False),
    Index("ix_meeting_attendance_address", "workspace_id", "address", "starts_at", "meeting_id"),
    Index("ix_meeting_attendance_domain", "workspace_id", "domain", "starts_at", "meeting_id"),
    Index("ix_meeting_attendance_meeting", "meeting_id"),
)

# Per person or company: its meetings' count, first and latest (past or not); last and next
# as of a read are found from the latest with one index seek each (projections/meeting_queries.py).
record_meeting_summaries = Table(
    "record_meeting_summaries",
    metadata,
    Column("kind", String(8), primary_key=True),
    Column("record_id", ID, primary_key=True),
    Column("workspace_id", ID, nullable=False),
    Column("meetings", Integer, nullable=False),
    Column("first_at", String(40), nullable=False),
    Column("first_meeting", ID, nullable=False),
    Column("latest_at", String(40), nullable=False),
    Column("latest_meeting", ID, nullable=False),
)

VIEW_TABLES = (
    audit_log,
    workspaces,
    members,
    capture_addresses,
    mailboxes,
    emails,
    email_copies,
    email_participants,
    unparsed_participants,
    grants,
    people,
    person_addresses,
    companies,
    leads,
    lead_contacts,
    lead_emails,
    record_summaries,
    record_members,
    strength_days,
    strength_clock,
    message_fates,
    mailbox_months,
    sends,
    threads,
    thread_addresses,
    calendars,
    meeting_copies,
    meeting_participants,
    meeting_attendance,
    record_meeting_summaries,
)
