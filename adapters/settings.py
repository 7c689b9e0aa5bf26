"""Deployment settings, read from MAILTRAIL_* environment variables."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from adapters.catalog import DOMAIN_VERIFYING_HOSTS

DEFAULT_DATABASE_URL = "sqlite:///./var/mailtrail.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAILTRAIL_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    allow_private_hosts: bool = False
    projection_poll_seconds: float = 0.5
    views_wait_seconds: float = 10.0  # how long a command waits for the views to show its write (then 503)
    master_key: str | None = None  # base64 of 32 bytes; generated into var/master.key when unset
    # Mail hosts whose accepted login as an address proves it, on any domain (comma-separated).
    verifying_mail_hosts: Annotated[tuple[str, ...], NoDecode] = DOMAIN_VERIFYING_HOSTS
    max_participants: int = 1000  # a message with more participants is stored but creates no records
    max_records_per_batch: int = 10000  # people created by one recorded batch at most
    # Capture by forwarding and BCC (`mailtrail inbound`): the domain of capture addresses (none:
    # no capture), the networks whose unsigned mail is taken, the resolvers of DKIM keys.
    inbound_domain: str | None = None
    inbound_trusted: Annotated[tuple[str, ...], NoDecode] = ("127.0.0.0/8", "::1/128")
    inbound_dns: Annotated[tuple[str, ...], NoDecode] = ()  # host[:port], e.g. 127.0.0.1:5353
    # OAuth providers (issue 15): endpoints here are trusted configuration (loopback in tests,
    # national clouds); a provider without a client id and secret answers 422 "not configured".
    public_url: str = "http://127.0.0.1:8000"  # redirects: public_url + "/oauth/callback"
    microsoft_client_id: str | None = None
    microsoft_client_secret: str | None = None
    microsoft_authority: str = "https://login.microsoftonline.com/common"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    google_client_id: str | None = None
    google_client_secret: str | None = None
    google_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"
    google_jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"  # the id tokens' signing keys
    gmail_imap: str = "imap.gmail.com:993"  # host:port, implicit TLS, XOAUTH2
    graph_page_size: int = 100  # odata.maxpagesize of a delta query: messages per batch
    graph_poll_seconds: float = 300.0  # a Graph mailbox's delta sync without change notifications
    outbox: bool = True  # the server runs the outbox loop (MAILTRAIL_OUTBOX=0: only `mailtrail worker` sends)
    outbox_poll_seconds: float = 5.0  # the outbox looks for due sends this often (and when one is queued)
    send_lease_seconds: float = 300.0  # an attempt older than this was interrupted: looked for, then retried
    webhook_delivery: Literal["serve", "worker"] = "serve"  # which process delivers webhooks
    webhook_poll_seconds: float = 0.5  # how often the delivery loop looks for new events and due retries
    webhook_retry_base_seconds: float = 5.0  # the first retry's delay; each next one doubles (at most 6 h)
    webhook_give_up_seconds: float = 3 * 24 * 3600.0  # a delivery failing this long disables its webhook
    # The window a recurring calendar event is expanded over, around the time of a sync.
    calendar_past_days: int = 730
    calendar_future_days: int = 365

    # Graph change notifications: None subscribes when public_url is https (Graph calls only those)
    graph_notifications: bool | None = None

    @property
    def redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + "/oauth/callback"

    @property
    def gmail_imap_endpoint(self) -> tuple[str, int]:
        host, _, port = self.gmail_imap.rpartition(":")
        return (host, int(port)) if host and port.isdigit() else (self.gmail_imap, 993)

    @property
    def notification_url(self) -> str | None:
        """Where Graph sends change notifications, or None: polling only."""
        wanted = (
            self.public_url.startswith("https://")
            if self.graph_notifications is None
            else self.graph_notifications
        )
        return self.public_url.rstrip("/") + "/webhooks/microsoft" if wanted else None

    @field_validator("verifying_mail_hosts", "inbound_trusted", "inbound_dns", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return tuple(h.strip() for h in value.split(",") if h.strip()) if isinstance(value, str) else value

    def dns_servers(self) -> tuple[tuple[str, int], ...]:
        """`inbound_dns` as (host, port) pairs (port 53 unless given; `[v6]:port` for IPv6)."""
        servers = []
        for entry in self.inbound_dns:
            host, colon, port = entry.rpartition(":")
            if not colon or "]" in port or (host.count(":") and not host.startswith("[")):
                host, port = entry, "53"
            servers.append((host.strip("[]"), int(port)))
        return tuple(servers)
