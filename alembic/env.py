"""Alembic environment: migrations run on the connection the caller passes in."""

from __future__ import annotations

from alembic import context

from adapters.datakeys import key_metadata
from adapters.secret_tables import secret_metadata
from projections.tables import metadata

# Every table the migrations own: the views, and the secrets and data keys that are not views.
TARGET_METADATA = [metadata, secret_metadata, key_metadata]

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from adapters.persistence import StoreConfig
        from adapters.settings import Settings

        engine = StoreConfig(Settings().database_url).view_engine()
        with engine.begin() as conn:
            _migrate(conn)
        return
    _migrate(connection)


def _migrate(connection: object) -> None:
    context.configure(connection=connection, target_metadata=TARGET_METADATA, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
