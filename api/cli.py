"""The `mailtrail` command."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from adapters.mailfiles import count_messages, read_messages
from adapters.parallel_parse import parsed
from api.bootstrap import open_command_runtime, open_runtime
from application.errors import DomainError
from application.services.ingest import group

app = typer.Typer(help="mailtrail: email sync for a CRM workspace.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
audit_app = typer.Typer(help="Audit and compliance.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
    )


WORKER_START_SECONDS = 30  # uvicorn kills a worker that does not answer its ping in time (5 s): slow starts


_open = open_command_runtime  # a command's runtime waits for a running server's applier as long as that takes


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int | None, typer.Option(help="API processes (default: the CPU count).", min=1)
    ] = None,
) -> None:
    """Serve the HTTP API with N worker processes; the one holding the views lock applies events."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    open_runtime().close()  # schema and master key made once, before the workers race for them
    log_config = {
        **LOGGING_CONFIG,
        "loggers": {
            **LOGGING_CONFIG["loggers"],
            **{
                name: {"handlers": ["default"], "level": "INFO"}
                for name in ("adapters", "api", "projections")
            },
        },
    }
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers or os.cpu_count() or 1,
        log_level="info",
        log_config=log_config,
        timeout_worker_healthcheck=WORKER_START_SECONDS,
    )


@workspace_app.command("create")
def workspace_create(
    name: Annotated[str, typer.Option()],
    domain: Annotated[str, typer.Option(help="The domain the workspace signs up with.")],
    admin_name: Annotated[str, typer.Option()],
    admin_email: Annotated[str, typer.Option()],
    plan: Annotated[str, typer.Option(help="free, plus, pro or enterprise")] = "free",
) -> None:
    """Create a workspace and its admin; prints JSON with the admin's token."""
    runtime = _open()
    try:
        workspace_id, member_id, position = runtime.services.workspaces.create_workspace(
            name, domain, admin_name, admin_email, plan
        )
        token = runtime.tokens.issue(workspace_id, member_id)
        runtime.wait_for(position)
    except (DomainError, ValueError) as error:
        raise typer.BadParameter(str(error)) from None
    finally:
        runtime.close()
    typer.echo(json.dumps({"workspace_id": workspace_id, "member_id": member_id, "token": token}))


@app.command("import")
def import_mail(
    path: Annotated[Path, typer.Argument(help="An mbox file or a Maildir.", exists=True)],
    mailbox: Annotated[str, typer.Option("--mailbox", help="The mailbox id to import into.")],
) -> None:
    """Import an mbox file or a Maildir into a mailbox (idempotent)."""
    runtime = _open()
    try:
        try:
            runtime.services.ingest.require_mailbox(mailbox)
        except DomainError as error:
            raise typer.BadParameter(str(error), param_hint="--mailbox") from None
        total = count_messages(path)
        started = time.perf_counter()
        with _progress() as progress:
            task = progress.add_task("importing", total=total, rate="")

            def advance(n: int) -> None:
                done = progress.tasks[0].completed + n
                rate = done / max(time.perf_counter() - started, 1e-9)
                progress.update(task, advance=n, rate=f"{rate:,.0f} msg/s")

            try:
                totals = runtime.services.ingest.import_messages(
                    mailbox, group(parsed(read_messages(path))), advance
                )
            except DomainError as error:
                raise typer.BadParameter(str(error)) from None
            views = progress.add_task("projecting", total=None, rate="")
            runtime.wait_for(totals.position, progress=lambda n: progress.update(views, advance=n))
        elapsed = time.perf_counter() - started
    finally:
        runtime.close()
    typer.echo(
        json.dumps(
            {
                "seen": totals.seen,
                "synced": totals.synced,
                "skipped": dict(totals.skipped),
                "rejected": dict(totals.rejected),
                "seconds": round(elapsed, 3),
                "messages_per_second": round(totals.seen / elapsed, 1) if elapsed else None,
            }
        )
    )


@app.command()
def project(
    follow: Annotated[bool, typer.Option(help="Keep running as the views' applier.")] = False,
) -> None:
    """Bring the views up to date with the event log (or wait while the applier does).

    With --follow this process becomes the views' only applier once the lock is free, so API
    workers never apply; it runs until interrupted."""
    import logging
    import signal
    import threading

    runtime = _open(hold_views_lock=follow)
    try:
        if not follow:
            position = runtime.catch_up()
        else:
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: (stop.set(), runtime.views.wakeups.events.fire()))
            logging.basicConfig(level=logging.INFO, format="%(message)s")
            console.print(f"process {os.getpid()} waits for the views lock, then applies events")
            runtime.views.run(stop, runtime.settings.projection_poll_seconds)
            position = runtime.runner.position()
    finally:
        runtime.close()
    typer.echo(json.dumps({"position": position}))


@app.command()
def replay(
    until: Annotated[
        str | None, typer.Option(help="Replay up to this event position, or this ISO time (with a timezone).")
    ] = None,
    workspace: Annotated[
        str | None, typer.Option(help="Rebuild only this workspace's events; digests of its rows only.")
    ] = None,
) -> None:
    """Rebuild every view (or one workspace's) from position 0 into a fresh store; print both digests."""
    from api.replay import replay_digests, resolve_until, workspace_events

    runtime = _open()
    try:
        try:
            position = resolve_until(runtime, until, workspace)
        except DomainError as error:
            raise typer.BadParameter(str(error), param_hint="--until") from None
        total = position or runtime.app.recorder.max_notification_id() or 0
        if workspace is not None:
            total = workspace_events(runtime, workspace, position)
            if not total:
                raise typer.BadParameter(f"no events of workspace {workspace}", param_hint="--workspace")
        with _progress() as progress:
            task = progress.add_task("replaying", total=total, rate="")
            result = replay_digests(runtime, position, lambda n: progress.update(task, advance=n), workspace)
    finally:
        runtime.close()
    typer.echo(json.dumps(result))
    if until is None and not result["equal"]:
        raise typer.Exit(1)


@audit_app.command("report")
def audit_report(
    workspace: Annotated[str | None, typer.Option(help="Only this workspace (default: every one).")] = None,
) -> None:
    """Check the privacy invariants over the whole store; exit 1 on any violation."""
    from api.replay import replay_digests
    from projections.compliance import privacy_report
    from projections.tables import workspaces

    runtime = _open()
    try:
        runtime.catch_up()
        with runtime.engine.connect() as conn:
            ids = [workspace] if workspace else [r.id for r in conn.execute(workspaces.select())]
            reports = {ws: privacy_report(conn, ws) for ws in ids}
        digests = replay_digests(runtime, workspace_id=workspace)
    finally:
        runtime.close()
    violations = [v for r in reports.values() for v in r["violations"]]
    if not digests["equal"]:
        violations.append({"rule": "replay_digest_differs"})
    typer.echo(json.dumps({"workspaces": reports, "digests": digests, "violations": violations}, indent=2))
    if violations:
        raise typer.Exit(1)


@app.command()
def demo(
    messages: Annotated[int, typer.Option(help="How many messages to generate.")] = 3000,
) -> None:
    """Create a demo workspace with members, mailboxes and generated mail."""
    from adapters.mailgen import generate_messages
    from api.demo import create_demo

    runtime = _open()
    try:
        with _progress() as progress:
            task = progress.add_task("demo mail", total=messages, rate="")
            info: dict[str, Any] = create_demo(
                runtime, messages, lambda n: progress.update(task, advance=n), generate_messages
            )
    finally:
        runtime.close()
    typer.echo(json.dumps(info, indent=2))


PROCESS_THRESHOLD = 1000  # from this many new messages in a folder, fetch and parse in a child process


def _vm_hwm_kb() -> int:
    """This process's peak RSS (VmHWM), in kB."""
    try:
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("VmHWM")).split()[1])
    except (OSError, StopIteration, ValueError):
        return 0


def _peak_rss_mb() -> dict[str, float]:
    """Peak RSS of this process and of its largest fetch process, in MB."""
    from adapters.imap_fetch import peak_rss_kb

    peaks = {"self": _vm_hwm_kb(), "fetch_process": peak_rss_kb()}
    return {name: round(kb * 1024 / 1e6, 1) for name, kb in peaks.items()}


@app.command()
def sync(
    mailbox: Annotated[
        str | None, typer.Option("--mailbox", help="One mailbox id (default: every active one).")
    ] = None,
    calendar: Annotated[
        str | None, typer.Option("--calendar", help="One calendar id (default: every connected one).")
    ] = None,
) -> None:
    """One sync pass of mailboxes and calendars: the full history the first time, then only what changed."""
    runtime = _open()
    started = time.perf_counter()
    try:
        with _progress() as progress:
            tasks: dict[tuple[str, str], Any] = {}

            def advance(mailbox_id: str, folder: str, done: int, total: int) -> None:
                if (mailbox_id, folder) not in tasks:
                    tasks[mailbox_id, folder] = progress.add_task(folder, total=total, rate="")
                rate = sum(t.completed for t in progress.tasks) / max(time.perf_counter() - started, 1e-9)
                progress.update(
                    tasks[mailbox_id, folder], completed=done, total=total, rate=f"{rate:,.0f} msg/s"
                )

            service = runtime.imap_sync(process_threshold=PROCESS_THRESHOLD, progress=advance)
            try:
                ids = [mailbox] if mailbox else service.connected(include_errors=False)
                reports = [service.sync(mailbox_id) for mailbox_id in ids]
                calendar_sync = runtime.calendar_sync()
                calendar_ids = [calendar] if calendar else [] if mailbox else calendar_sync.connected()
                calendar_reports = [calendar_sync.sync(calendar_id) for calendar_id in calendar_ids]
            except DomainError as error:
                raise typer.BadParameter(str(error)) from None
            views = progress.add_task("projecting", total=None, rate="")
            last = max((r.position for r in [*reports, *calendar_reports]), default=0)
            runtime.wait_for(last, progress=lambda n: progress.update(views, advance=n))
        elapsed = time.perf_counter() - started
    finally:
        runtime.close()
    fetched = sum(r.fetched for r in reports)
    typer.echo(
        json.dumps(
            {
                "mailboxes": [r.as_dict() for r in reports],
                "calendars": [r.as_dict() for r in calendar_reports],
                "fetched": fetched,
                "seconds": round(elapsed, 3),
                "messages_per_second": round(fetched / elapsed, 1) if elapsed else None,
                "peak_rss_mb": _peak_rss_mb(),
            }
        )
    )
    if any(r.status != "active" or r.reason for r in [*reports, *calendar_reports]):
        raise typer.Exit(1)


@app.command()
def inbound(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 2525,
) -> None:
    """Take mail for members' capture addresses over SMTP (MAILTRAIL_INBOUND_DOMAIN): a BCC or a
    forward from the member is recorded into their `forwarded` mailbox."""
    import logging
    import signal
    import threading

    runtime = open_runtime(hold_views_lock=True)
    if not runtime.settings.inbound_domain:
        runtime.close()
        raise typer.BadParameter("set MAILTRAIL_INBOUND_DOMAIN (the domain of capture addresses)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's own log names recipients
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = runtime.inbound(host, port)
    try:
        runtime.views.try_apply()
        runtime.start_background_projection()  # the views' applier when no server holds the lock
        server.start()
        console.print(f"mailtrail inbound: SMTP on {host}:{port} for @{runtime.settings.inbound_domain}")
        stop.wait()
    finally:
        server.stop()
        runtime.close()


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="One pass over every active mailbox, then exit.")] = False,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    poll_seconds: Annotated[
        float, typer.Option(help="Longest wait between passes (IDLE or polling).")
    ] = 60.0,
    sync: Annotated[bool, typer.Option(help="Keep the connected mailboxes in sync.")] = True,
    outbox: Annotated[bool, typer.Option(help="Send what the outbox holds when it is due.")] = True,
) -> None:
    """Keep every connected mailbox and calendar in sync: IDLE where the server offers it, else polling
    (Microsoft 365: a delta query every MAILTRAIL_GRAPH_POLL_SECONDS; calendars every poll); and send
    what the outbox holds."""
    import dataclasses
    import signal
    import threading

    from application.imap_sync import SyncReport
    from application.imap_worker import ImapWorker

    runtime = _open()
    stop = threading.Event()

    def after_pass(report: SyncReport) -> None:
        try:
            runtime.wait_for(report.position)
        except Exception as error:  # noqa: BLE001 - the next pass catches up again
            console.print(f"[yellow]views not caught up: {error}")
        console.print(
            f"{report.mailbox_id}: {report.status} {report.reason} fetched {report.fetched}".rstrip()
        )

    def stopping(*_: object) -> None:
        stop.set()
        runtime.outbox_loop.wake()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stopping)
    if runtime.settings.webhook_delivery == "worker" and not once:
        runtime.start_webhook_delivery(only_when_applier=False)  # MAILTRAIL_WEBHOOK_DELIVERY=worker

    def calendar_passes() -> list[Any]:
        """One pass over every connected calendar (CalDAV has no IDLE: calendars are polled)."""
        calendar_sync = runtime.calendar_sync()
        reports = []
        for calendar_id in calendar_sync.connected():
            report = calendar_sync.sync(calendar_id)
            try:
                runtime.wait_for(report.position)
            except Exception as error:  # noqa: BLE001 - the next pass catches up again
                console.print(f"[yellow]views not caught up: {error}")
            console.print(f"{calendar_id}: {report.status} {report.reason} fetched {report.fetched}".rstrip())
            reports.append(report)
        return reports

    def poll_calendars() -> None:
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            try:
                calendar_passes()
            except Exception as error:  # noqa: BLE001 - a failed pass is retried at the next poll
                console.print(f"[red]calendar pass failed: {error}")
            stop.wait(poll_seconds)

    try:
        service = runtime.imap_sync(process_threshold=PROCESS_THRESHOLD)
        runner = ImapWorker(service, poll_seconds=poll_seconds, after_pass=after_pass,
                            graph_poll_seconds=runtime.settings.graph_poll_seconds,
                            notifications=runtime.notifications)  # fmt: skip
        if once:
            reports = runner.run_once() if sync else []
            calendar_reports = calendar_passes() if sync else []
            sent = dataclasses.asdict(runtime.outbox.run_once()) if outbox else None
            typer.echo(json.dumps({"mailboxes": [r.as_dict() for r in reports],
                                   "calendars": [r.as_dict() for r in calendar_reports], "outbox": sent}))  # fmt: skip
        elif sync:
            if outbox:
                runtime.outbox_loop.start()
            calendars = threading.Thread(target=poll_calendars, name="calendars", daemon=True)
            calendars.start()
            runner.run(stop, max_seconds)
            stop.set()
            calendars.join(timeout=poll_seconds)
        elif outbox:
            timer = threading.Timer(max_seconds, stopping) if max_seconds is not None else None
            if timer is not None:
                timer.daemon = True
                timer.start()
            runtime.outbox_loop.run(stop)
    finally:
        runtime.close()


def main() -> None:
    app()
