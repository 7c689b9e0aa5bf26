"""Deployment settings, read from MAILTRAIL_* environment variables."""

from __future__ import annotations

from typing import Annotated

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
    # The window a recurring calendar event is expanded over, around the time of a sync.
    calendar_past_days: int = 730
    calendar_future_days: int = 365

    @field_validator("verifying_mail_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return tuple(h.strip() for h in value.split(",") if h.strip()) if isinstance(value, str) else value
