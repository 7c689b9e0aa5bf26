"""A mail source over an mbox file, a Maildir (e.g. a Google Takeout export) or one .eml file."""

from __future__ import annotations

import mailbox
import os
from collections.abc import Iterator
from pathlib import Path

RawMessage = tuple[str, str, bytes]  # (folder, ref, raw bytes)


def is_maildir(path: Path) -> bool:
    return path.is_dir() and (path / "cur").is_dir()


def is_mbox(path: Path) -> bool:
    """An mbox starts with a `From ` line; any other file is one RFC 822 message (.eml)."""
    with path.open("rb") as f:
        return f.read(5) == b"From "


def count_messages(path: Path) -> int:
    """How many messages `read_messages` will yield (cheap for a Maildir)."""
    if is_maildir(path):
        return sum(len(os.listdir(d / sub)) for d, _ in _maildir_folders(path) for sub in ("cur", "new"))
    if not is_mbox(path):
        return 1
    box = mailbox.mbox(path, create=False)
    try:
        return len(box)
    finally:
        box.close()


def read_messages(path: Path) -> Iterator[RawMessage]:
    """Every message of the mbox or Maildir at `path`, in a stable order."""
    if is_maildir(path):
        for folder_path, folder in _maildir_folders(path):
            for sub in ("cur", "new"):
                directory = folder_path / sub
                for name in sorted(os.listdir(directory)):
                    file = directory / name
                    if file.is_file():
                        yield folder, f"{folder}/{sub}/{name}", file.read_bytes()
    elif path.is_file() and not is_mbox(path):
        yield "INBOX", path.name, path.read_bytes()
    elif path.is_file():
        box = mailbox.mbox(path, create=False)
        try:
            for key in box.iterkeys():
                yield path.stem, f"{path.name}#{key}", box.get_bytes(key)
        finally:
            box.close()
    else:
        raise FileNotFoundError(f"{path} is neither an mbox file nor a Maildir")


def _maildir_folders(path: Path) -> Iterator[tuple[Path, str]]:
    yield path, "INBOX"
    for child in sorted(path.iterdir()):
        if child.is_dir() and child.name.startswith(".") and (child / "cur").is_dir():
            yield child, child.name[1:].replace(".", "/")
