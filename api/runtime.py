"""Composition root: the application, the view store and the projection runner."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine

from adapters.catalog import DomainCatalog
from adapters.migrations import upgrade
from adapters.persistence import StoreConfig, writer_engine
from adapters.settings import Settings
from application.app import MailTrail
from projections.runner import ProjectionRunner


@dataclass
class Runtime:
    settings: Settings
    store: StoreConfig
    app: MailTrail
    engine: Engine
    runner: ProjectionRunner
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings | None = None) -> Runtime:
        """Open the stores, bringing the view schema up to date first."""
        settings = settings or Settings()
        store = StoreConfig(settings.database_url)
        engine = store.view_engine()
        upgrade(engine)
        app = MailTrail(DomainCatalog(), env=store.event_store_env())
        runner = ProjectionRunner(app, writer_engine(engine))
        return cls(settings, store, app, engine, runner)

    def catch_up(self) -> int:
        return self.runner.catch_up()

    def start_background_projection(self) -> None:
        """Keep the views caught up with writes from other processes too."""

        def loop() -> None:
            while not self._stop.wait(self.settings.projection_poll_seconds):
                try:
                    self.runner.catch_up()
                except Exception:  # noqa: BLE001 - logged and retried on the next tick
                    import logging

                    logging.getLogger(__name__).exception("projection catch-up failed")

        self._thread = threading.Thread(target=loop, name="projections", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.app.close()
        self.engine.dispose()
