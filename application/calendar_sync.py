"""A sync pass of calendars: every collection of the account, changes since its cursor, recorded
in batches (application/calendar_recorder.py). A server that refuses or fails puts the calendar
in `error` with mailtrail's reason; a malformed resource is a rejection, never a failed pass."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from application.app import MailTrail
from application.calendar_recorder import CalendarRecorder
from application.errors import ConflictError, NotFoundError
from application.ports import CalendarConnector, CalendarServer, CalendarServerError, KeyStore
from domain.calendar import ACTIVE, ERROR, Calendar, collection_prefix

log = logging.getLogger(__name__)

BATCH_RESOURCES = 200  # calendar resources per recorded batch


@dataclass
class CalendarReport:
    calendar_id: str
    status: str
    reason: str = ""
    fetched: int = 0  # resources read
    synced: int = 0
    retracted: int = 0
    rejected: int = 0
    position: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class CalendarSync:
    def __init__(
        self,
        app: MailTrail,
        keystore: KeyStore,
        connector: CalendarConnector,
        after_batch: Callable[[int], object] = lambda position: None,
    ) -> None:
        self.app = app
        self.keystore = keystore
        self.connector = connector
        self.after_batch = after_batch

    def connected(self) -> list[str]:
        """Every calendar with stored credentials that is active (or in error: retried)."""
        ids = []
        for owner in self.keystore.owners():
            try:
                calendar = self.app.load(Calendar, owner)
            except NotFoundError:
                continue
            if calendar.status in (ACTIVE, ERROR):
                ids.append(owner)
        return sorted(ids)

    def sync(self, calendar_id: str) -> CalendarReport:
        calendar = self.app.load(Calendar, calendar_id)
        report = CalendarReport(calendar_id, calendar.status, position=self.app.position())
        if calendar.status not in (ACTIVE, ERROR):
            return report
        secret = self.keystore.get(calendar_id) or {}
        try:
            server = self.connector.connect(calendar.connection, secret)
            try:
                self._pass(calendar_id, server, report)
            finally:
                server.close()
        except CalendarServerError as failure:
            report.status, report.reason = ERROR, str(failure)
        report.position = self._set_status(calendar_id, report.status if report.status == ERROR else ACTIVE,
                                            report.reason) or report.position  # fmt: skip
        report.status = report.status if report.status == ERROR else ACTIVE
        return report

    def _pass(self, calendar_id: str, server: CalendarServer, report: CalendarReport) -> None:
        recorder = CalendarRecorder(self.app, calendar_id)
        collections = server.collections()
        for collection in collections:
            calendar = self.app.load(Calendar, calendar_id)
            changes = server.changes(collection, calendar.cursors.get(collection))
            gone = list(changes.gone)
            if changes.full:
                listed = {r.href for r in changes.changed}
                gone += [h for h in calendar.resources if _in(h, collection) and h not in listed]
            if not changes.changed and not gone and changes.cursor == calendar.cursors.get(collection):
                continue
            report.fetched += len(changes.changed)
            chunks = [
                changes.changed[i : i + BATCH_RESOURCES]
                for i in range(0, len(changes.changed), BATCH_RESOURCES)
            ]
            chunks = chunks or [[]]
            for n, chunk in enumerate(chunks):
                last = n == len(chunks) - 1
                batch = recorder.record(collection, chunk, sorted(set(gone)) if last else [],
                                        changes.cursor if last else None)  # fmt: skip
                report.synced += batch.synced
                report.retracted += batch.retracted
                report.rejected += batch.rejected
                report.position = batch.position
                self.after_batch(batch.position)
        calendar = self.app.load(Calendar, calendar_id)
        for collection in sorted(set(calendar.cursors) - set(collections)):  # gone from the server
            held = [h for h in calendar.resources if _in(h, collection)]
            batch = recorder.record(collection, [], held, None)
            report.retracted += batch.retracted
            calendar = self.app.load(Calendar, calendar_id)
            calendar.forget_collection(collection)
            report.position = self.app.save_all(calendar)

    def _set_status(self, calendar_id: str, status: str, reason: str) -> int | None:
        for _ in range(3):
            calendar = self.app.load(Calendar, calendar_id)
            if calendar.status not in (ACTIVE, ERROR):
                return None
            if (calendar.status, calendar.status_reason) == (status, reason):
                return None
            calendar.set_status(status, reason)
            try:
                return self.app.save_all(calendar)
            except ConflictError:
                continue
        return None


def _in(key: str, collection: str) -> bool:
    return key.startswith(collection_prefix(collection))
