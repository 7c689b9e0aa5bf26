"""The `mailtrail` command."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from adapters.mailfiles import count_messages, read_messages
from adapters.mime import parse_message
from adapters.tokens import issue_token
from api.runtime import Runtime
from application.errors import DomainError
from application.importing import batches, import_batches
from application.sync import Syncer

app = typer.Typer(help="mailtrail: email sync for a CRM workspace.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API, with the projections running in-process."""
    import uvicorn

    from api.main import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info")


@workspace_app.command("create")
def workspace_create(
    name: Annotated[str, typer.Option()],
    domain: Annotated[str, typer.Option(help="The domain the workspace signs up with.")],
    admin_name: Annotated[str, typer.Option()],
    admin_email: Annotated[str, typer.Option()],
    plan: Annotated[str, typer.Option(help="free, plus, pro or enterprise")] = "free",
) -> None:
    """Create a workspace and its admin; prints JSON with the admin's token."""
    runtime = Runtime.open()
    try:
        workspace_id, member_id = runtime.app.create_workspace(name, domain, admin_name, admin_email, plan)
        token = issue_token(runtime.engine, workspace_id, member_id)
        runtime.catch_up()
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
    runtime = Runtime.open()
    try:
        total = count_messages(path)
        started = time.perf_counter()
        with _progress() as progress:
            task = progress.add_task("importing", total=total, rate="")

            def advance(n: int) -> None:
                done = progress.tasks[0].completed + n
                rate = done / max(time.perf_counter() - started, 1e-9)
                progress.update(task, advance=n, rate=f"{rate:,.0f} msg/s")

            try:
                totals = import_batches(
                    Syncer(runtime.app, mailbox), batches(read_messages(path), parse_message), advance
                )
            except DomainError as error:
                raise typer.BadParameter(str(error)) from None
            views = progress.add_task("projecting", total=None, rate="")
            runtime.runner.catch_up(progress=lambda n: progress.update(views, advance=n))
        elapsed = time.perf_counter() - started
    finally:
        runtime.close()
    typer.echo(json.dumps({
        "seen": totals.seen,
        "synced": totals.synced,
        "skipped": dict(totals.skipped),
        "rejected": dict(totals.rejected),
        "seconds": round(elapsed, 3),
        "messages_per_second": round(totals.seen / elapsed, 1) if elapsed else None,
    }))


@app.command()
def project(
    follow: Annotated[bool, typer.Option(help="Keep running, polling for new events.")] = False,
) -> None:
    """Bring the views up to date with the event log."""
    runtime = Runtime.open()
    try:
        while True:
            position = runtime.runner.catch_up()
            if not follow:
                break
            time.sleep(runtime.settings.projection_poll_seconds)
    finally:
        runtime.close()
    typer.echo(json.dumps({"position": position}))


@app.command()
def replay(
    until: Annotated[int | None, typer.Option(help="Replay up to this event position.")] = None,
) -> None:
    """Rebuild every view from position 0 into a fresh store; print both digests."""
    from api.replay import replay_digests

    runtime = Runtime.open()
    try:
        with _progress() as progress:
            task = progress.add_task("replaying", total=runtime.app.recorder.max_notification_id() or 0, rate="")
            result = replay_digests(runtime, until, lambda n: progress.update(task, advance=n))
    finally:
        runtime.close()
    typer.echo(json.dumps(result))
    if until is None and not result["equal"]:
        raise typer.Exit(1)


@app.command()
def demo(
    messages: Annotated[int, typer.Option(help="How many messages to generate.")] = 3000,
) -> None:
    """Create a demo workspace with members, mailboxes and generated mail."""
    from api.demo import create_demo

    runtime = Runtime.open()
    try:
        with _progress() as progress:
            task = progress.add_task("demo mail", total=messages, rate="")
            info: dict[str, Any] = create_demo(runtime, messages, lambda n: progress.update(task, advance=n))
    finally:
        runtime.close()
    typer.echo(json.dumps(info, indent=2))


def main() -> None:
    app()
