"""Which folders a sync pass syncs, and which it retires: dropped by the owner, or gone from the server.

A retired folder's copies are retracted unless another synced folder still holds them, and its
cursor and UID ledger rows go (application/imap_sync.py). A folder is gone only when the server
says so: absent from LIST *and* STATUS answers that no such mailbox exists. A LIST that omits a
chosen folder once (a glitch) stops the pass with an error, as before, and retracts nothing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from application.ports import MailFoldersMissingError, MailServer


def folders_to_sync(server: MailServer, wanted: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """The folders to sync this pass, and those of the owner's `wanted` that the server says are gone."""
    try:
        return server.folders(wanted), []
    except MailFoldersMissingError as error:
        gone = [folder for folder in error.folders if server.gone(folder)]
        unlisted = [folder for folder in error.folders if folder not in gone]
        if unlisted:
            raise MailFoldersMissingError(unlisted) from None
        remaining = [folder for folder in wanted or () if folder not in gone]
        return (server.folders(remaining) if remaining else []), gone


def retired_folders(
    server: MailServer,
    wanted: Sequence[str] | None,
    synced: Sequence[str],
    known: Iterable[str],
    gone: Sequence[str],
) -> list[str]:
    """Folders with sync state (`known`) that this pass does not sync and whose mail goes.

    With the owner's list, a folder dropped from it is retired at once (the owner's decision).
    With the default folders (INBOX and Sent, found by name or SPECIAL-USE), a folder no longer
    found is retired only when the server says it is gone; otherwise its state is kept."""
    retired = set(gone)
    for folder in set(known) - set(synced) - retired:
        if (wanted and folder not in wanted) or server.gone(folder):
            retired.add(folder)
    return sorted(retired)
