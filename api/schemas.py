"""Request bodies (pydantic). Responses are plain JSON documents.

Bodies are strict: a boolean is `true` or `false`, never `"yes"`, `1` or `"true"`; a number is
a JSON number. Addresses and domains say their OpenAPI `format`; the domain rules
(normalisation, IDNA) still decide what is accepted."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

_IDN = "internationalised domains are accepted and compared in their IDNA form"
Email = Annotated[str, Field(min_length=3, max_length=320, json_schema_extra={"format": "email"},
                             description=f"an email address; {_IDN}")]  # fmt: skip
DomainName = Annotated[str, Field(min_length=3, max_length=255, json_schema_extra={"format": "hostname"},
                                  description=f"a domain name; {_IDN}")]  # fmt: skip
EmailOrDomain = Annotated[str, Field(
    min_length=1, max_length=320, description=f"an email address, or a domain (and its subdomains); {_IDN}",
    json_schema_extra={"anyOf": [{"format": "email"}, {"format": "hostname"}]},
)]  # fmt: skip
Host = Annotated[str, Field(
    min_length=1, max_length=255, description="the server's host name or IP address",
    json_schema_extra={"anyOf": [{"format": "hostname"}, {"format": "ipv4"}, {"format": "ipv6"}]},
)]  # fmt: skip


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NewMember(Body):
    name: str = Field(min_length=1, max_length=200)
    emails: list[Email] = Field(min_length=1, max_length=50)
    role: Literal["member", "admin", "auditor"] = "member"


class SendLimitsChange(Body):
    """Per mailbox: sends an hour, a day, and seconds between mass and sequence sends."""

    per_hour: int | None = Field(default=None, ge=1, le=100_000)
    per_day: int | None = Field(default=None, ge=1, le=100_000)
    spacing_seconds: int | None = Field(default=None, ge=0, le=100_000)


class SettingsChange(Body):
    record_creation: Literal["all", "selective", "none"] | None = None
    internal_domains: list[DomainName] | None = Field(default=None, max_length=500)
    auto_internal_domains: bool | None = None  # verified mailboxes make their domain internal (strict)
    exclusions: list[EmailOrDomain] | None = Field(default=None, max_length=5000)
    plan: Literal["free", "plus", "pro", "enterprise"] | None = None
    legal_hold: bool | None = None  # strict (Body): true or false only
    send_limits: SendLimitsChange | None = None


class NewMailbox(Body):
    provider: Literal["imap", "gmail", "microsoft365", "upload"]
    address: Email | None = None  # required but for gmail and microsoft365 (then the sign-in's)
    aliases: list[Email] = Field(default_factory=list, max_length=50)
    host: Host | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] | None = None
    username: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=1000)
    folders: list[str] | None = Field(default=None, max_length=100)
    smtp_host: Host | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Literal["tls", "starttls", "none"] | None = None
    smtp_username: str | None = Field(default=None, min_length=1, max_length=320)
    smtp_password: str | None = Field(default=None, min_length=1, max_length=1000)


class ConnectionChange(Body):
    username: str | None = Field(default=None, min_length=1, max_length=320)
    password: str | None = Field(default=None, min_length=1, max_length=1000)
    host: Host | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] | None = None
    folders: list[str] | None = Field(default=None, max_length=100)
    smtp_host: Host | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Literal["tls", "starttls", "none"] | None = None
    smtp_username: str | None = Field(default=None, min_length=1, max_length=320)
    smtp_password: str | None = Field(default=None, min_length=1, max_length=1000)


class MailboxChange(ConnectionChange):
    """A connection change (ConnectionChange's fields) and/or a sharing or status change."""

    sharing: Literal["metadata", "subject", "full"] | None = None
    status: Literal["active", "disconnected"] | None = Field(
        default=None, description="disconnect or reconnect; the mailbox keeps its cursor and history"
    )

    CONNECTION_FIELDS: ClassVar[tuple[str, ...]] = (
        "username",
        "password",
        "host",
        "port",
        "security",
        "folders",
        "smtp_host",
        "smtp_port",
        "smtp_security",
        "smtp_username",
        "smtp_password",
    )


class BlocklistEntry(Body):
    entry: EmailOrDomain


class NewPerson(Body):
    name: str = Field(min_length=1, max_length=200)
    emails: list[Email] = Field(default_factory=list, max_length=50)


class NewAddress(Body):
    address: Email


class NewCompany(Body):
    domain: DomainName
    name: str | None = Field(default=None, max_length=200)


class NewShare(Body):
    members: list[str] = Field(default_factory=list, max_length=500)
    workspace: bool = False
    thread: bool = False


class ReplayRequest(Body):
    until: int | str = Field(description="an event position, or an ISO time with a timezone")
    limit: int = Field(default=100, ge=1, le=500)


class NewLead(Body):
    name: str = Field(min_length=1, max_length=200)
    contacts: list[str] = Field(default_factory=list, max_length=500)


class NewContact(Body):
    person_id: str = Field(min_length=1, max_length=64)


class MergeRequest(Body):
    person_id: str = Field(
        min_length=1, max_length=64, description="the person merged into the path's person"
    )


class Attachment(Body):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(default="application/octet-stream", min_length=3, max_length=255)
    content_base64: str = Field(max_length=14_000_000)


class NewSend(Body):
    """One message from the mailbox (its address, or `from`, one of its aliases)."""

    to: list[Email] = Field(min_length=1, max_length=50)
    cc: list[Email] = Field(default_factory=list, max_length=50)
    bcc: list[Email] = Field(default_factory=list, max_length=50)
    subject: str = Field(max_length=998)
    text: str = Field(max_length=1_000_000)
    html: str | None = Field(default=None, max_length=2_000_000)
    from_: Email | None = Field(default=None, alias="from")
    reply_to_email: str | None = Field(default=None, min_length=1, max_length=64)
    send_at: str | None = Field(default=None, max_length=40, description="an ISO time with a timezone")
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)


class NewMassSend(Body):
    """One send per person, its subject, text and html rendered with the person's variables."""

    recipients: list[str] = Field(min_length=1, max_length=50, description="person ids")
    subject: str = Field(max_length=998)
    text: str = Field(max_length=1_000_000)
    html: str | None = Field(default=None, max_length=2_000_000)


WebhookUrl = Annotated[str, Field(min_length=8, max_length=2000, json_schema_extra={"format": "uri"},
                                  description="an http:// or https:// URL; private addresses are refused")]  # fmt: skip
EventType = Annotated[str, Field(min_length=1, max_length=64)]


class NewWebhook(Body):
    url: WebhookUrl
    events: list[EventType] = Field(min_length=1, max_length=50)
    description: str = Field(default="", max_length=500)


class WebhookChange(Body):
    url: WebhookUrl | None = None
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class NewCalendar(Body):
    provider: Literal["caldav"]
    url: str = Field(min_length=1, max_length=2000, description="the server's root or any URL of the account")
    username: str | None = Field(default=None, max_length=320)
    password: str = Field(min_length=1, max_length=1000)


class CalendarChange(Body):
    sharing: Literal["metadata", "full"] | None = None
    status: Literal["active", "disconnected"] | None = None
