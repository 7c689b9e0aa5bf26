"""Deployment settings, read from MAILTRAIL_* environment variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./var/mailtrail.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAILTRAIL_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    allow_private_hosts: bool = False
    projection_poll_seconds: float = 0.5
    views_wait_seconds: float = 10.0  # how long a command waits for the views to show its write (then 503)
    master_key: str | None = None  # base64 of 32 bytes; generated into var/master.key when unset
