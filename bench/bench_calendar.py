"""A calendar sync of N events (some of them weekly series) from Radicale, beside a plain
`caldav` client listing the same calendar (the client-side limit).

    .venv/bin/python bench/bench_calendar.py [--count 10000] [--series 0.1] [--seed 7]

Serves a generated calendar from a throw-away Radicale (tests/support/radicale.py; the events
are PUT as one calendar on the collection, which Radicale splits by UID), warms Radicale's
cache with one listing, then in one run times
  * caldav: `Calendar.search(event=True)` of the same collection (one calendar-query REPORT,
    the data of every resource), then icalendar parsing of each,
  * mailtrail: one calendar pass (discovery, sync-collection, calendar-multiget, parsing and
    expansion, the recorded batches), then the views' catch-up (SQLite),
and prints events/s of each, the occurrences stored and the ratio."""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import icalendar

from adapters.settings import Settings
from api.runtime import Runtime
from tests.support.radicale import RadicaleServer


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def generate(count: int, series: float, seed: int) -> str:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    people = [f"contact{n}@company{n % 400}.com" for n in range(3000)]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//mailtrail bench//EN"]
    for n in range(count):
        start = now + timedelta(hours=rng.randint(-24 * 700, 24 * 300))
        attendees = rng.sample(people, rng.randint(1, 4))
        lines += [
            "BEGIN:VEVENT", f"UID:bench-{n}@mailtrail", "DTSTAMP:20260101T000000Z", f"DTSTART:{_stamp(start)}",
            f"DTEND:{_stamp(start + timedelta(minutes=45))}", f"SUMMARY:Meeting {n}",
            "ORGANIZER;CN=Bob:mailto:bob@acme.com",
            *(f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{a}" for a in attendees),
        ]  # fmt: skip
        if rng.random() < series:
            lines.append(f"RRULE:FREQ=WEEKLY;COUNT={rng.randint(4, 12)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument(
        "--series", type=float, default=0.1, help="the share of events that are weekly series"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with RadicaleServer({"bob": "secret"}) as radicale, tempfile.TemporaryDirectory() as tmp:
        radicale.make_calendar("bob", "work")
        url = f"{radicale.url}bob/work/"
        started = time.perf_counter()
        client = radicale.client("bob")
        response = client.put(
            url, generate(args.count, args.series, args.seed), {"Content-Type": "text/calendar"}
        )
        assert response.status in (200, 201, 204), response.status
        loaded = time.perf_counter() - started
        calendar = radicale.calendar("bob", "work")
        calendar.search(event=True)  # Radicale's item cache warmed

        started = time.perf_counter()
        listed = calendar.search(event=True)
        parsed = [icalendar.Calendar.from_ical(e.data) for e in listed]
        caldav_seconds = time.perf_counter() - started

        runtime = Runtime.open(
            Settings(database_url=f"sqlite:///{tmp}/mailtrail.db", allow_private_hosts=True)
        )
        try:
            workspace_id, member_id, _ = runtime.services.workspaces.create_workspace(
                "Acme", "acme.com", "Bob", "bob@acme.com"
            )
            runtime.services.calendars.start_sync = lambda calendar_id: None  # the pass is timed below
            calendar_id = runtime.services.calendars.connect(
                workspace_id, member_id, "caldav", radicale.url, "bob", "secret"
            ).id
            runtime.catch_up()
            started = time.perf_counter()
            report = runtime.calendar_sync().sync(calendar_id)
            synced = time.perf_counter() - started
            runtime.catch_up()
            total = time.perf_counter() - started
            with runtime.engine.connect() as conn:
                meetings = conn.exec_driver_sql("SELECT count(*) FROM meeting_copies").scalar()
                people = conn.exec_driver_sql("SELECT count(*) FROM record_meeting_summaries").scalar()
        finally:
            runtime.close()
        print(
            json.dumps(
                {
                    "events": args.count,
                    "radicale_load_seconds": round(loaded, 1),
                    "caldav_client": {"resources": len(parsed), "seconds": round(caldav_seconds, 2),
                                      "events_per_second": round(len(parsed) / caldav_seconds)},
                    "mailtrail": {"resources": report.fetched, "occurrences_stored": meetings,
                                  "records_with_meetings": people, "status": report.status,
                                  "sync_seconds": round(synced, 2), "with_views_seconds": round(total, 2),
                                  "events_per_second": round(report.fetched / total)},
                    "ratio_caldav_over_mailtrail": round(total / caldav_seconds, 2),
                },
                indent=2,
            )
        )  # fmt: skip


if __name__ == "__main__":
    main()
