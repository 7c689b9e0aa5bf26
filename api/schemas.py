"""Request bodies (pydantic). Responses are plain JSON documents."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewMember(Body):
    name: str = Field(min_length=1, max_length=200)
    emails: list[str] = Field(min_length=1, max_length=50)
    role: Literal["member", "admin", "auditor"] = "member"


class SettingsChange(Body):
    record_creation: Literal["all", "selective", "none"] | None = None
    internal_domains: list[str] | None = Field(default=None, max_length=500)
    auto_internal_domains: StrictBool | None = None  # verified mailboxes make their domain internal
    exclusions: list[str] | None = Field(default=None, max_length=5000)
    plan: Literal["free", "plus", "pro", "enterprise"] | None = None
    legal_hold: bool | None = None


class NewMailbox(Body):
    provider: Literal["imap", "gmail", "microsoft365", "upload"]
    address: str = Field(max_length=320)
    aliases: list[str] = Field(default_factory=list, max_length=50)
    host: str | None = Field(default=None, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] | None = None
    username: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=1000)
    folders: list[str] | None = Field(default=None, max_length=100)


class ConnectionChange(Body):
    username: str | None = Field(default=None, min_length=1, max_length=320)
    password: str | None = Field(default=None, min_length=1, max_length=1000)
    host: str | None = Field(default=None, min_length=1, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] | None = None
    folders: list[str] | None = Field(default=None, max_length=100)


class MailboxChange(ConnectionChange):
    """A connection change (ConnectionChange's fields) and/or a sharing or status change."""

    sharing: Literal["metadata", "subject", "full"] | None = None
    status: Literal["active", "disconnected"] | None = Field(
        default=None, description="disconnect or reconnect; the mailbox keeps its cursor and history"
    )

    CONNECTION_FIELDS: ClassVar[tuple[str, ...]] = ("username", "password", "host", "port", "security", "folders")


class BlocklistEntry(Body):
    entry: str = Field(min_length=1, max_length=320)


class NewPerson(Body):
    name: str = Field(min_length=1, max_length=200)
    emails: list[str] = Field(default_factory=list, max_length=50)


class NewAddress(Body):
    address: str = Field(min_length=3, max_length=320)


class NewCompany(Body):
    domain: str = Field(min_length=3, max_length=255)
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
    person_id: str = Field(min_length=1, max_length=64, description="the person merged into the path's person")
