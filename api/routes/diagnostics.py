"""Sync diagnostics: "why isn't this email here?", per mailbox the caller may see."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import RuntimeDep, ViewerDep
from application.errors import RuleViolationError
from domain.fates import bare_message_id, message_text, sender_text
from domain.values import normalize_address
from projections.diagnostic_queries import fates_of

router = APIRouter(tags=["diagnostics"])


@router.get("/diagnostics/messages")
def message_diagnostics(
    viewer: ViewerDep,
    runtime: RuntimeDep,
    message_id: Annotated[
        str | None, Query(max_length=998, description="The Message-ID, with or without <>.")
    ] = None,
    sender: Annotated[
        str | None, Query(alias="from", max_length=320, description="For a message without one.")
    ] = None,
    to: Annotated[str | None, Query(max_length=320, description="A recipient, to narrow `from`.")] = None,
    date: Annotated[
        datetime | None, Query(description="When it was sent, with its offset (to the minute).")
    ] = None,
) -> dict[str, Any]:
    """What happened to one message in each mailbox: a member sees their own mailboxes, an
    admin or an auditor every mailbox of the workspace."""
    bare = bare_message_id(message_id)
    found_by: tuple[str, datetime, str | None] | None = None
    if bare:
        text = message_text(bare)
    elif sender and date is not None:
        if date.tzinfo is None:
            raise RuleViolationError("date needs its offset, e.g. 2025-06-01T12:00:00+02:00")
        address = normalize_address(sender)
        if address is None:
            raise RuleViolationError(f"from is not an address: {sender!r}")
        recipient = normalize_address(to) if to else None
        text = sender_text(address, date)
        found_by = (address, date, recipient)
    else:
        raise RuleViolationError("give message_id, or from and date for a message without one")
    with runtime.engine.connect() as conn:
        mailboxes = fates_of(conn, viewer, runtime.app.fate_hash(text), bare, found_by, runtime.app.fate_hash)
    return {"message_id": bare or None, "mailboxes": mailboxes}
