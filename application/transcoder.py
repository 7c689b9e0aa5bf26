"""orjson encoding of stored events; message content sealed under its mailbox's key.

Event attributes are JSON types by design (ids as strings); only `timestamp`
is typed back. The content fields of a recorded copy (participants, subject,
bodies, attachment metadata; a meeting copy's times, participants, title,
description and location) are stored encrypted with that mailbox's (or
calendar's) data key, so destroying the key erases them from the log without rewriting it.

A sealed event is stored as `{public JSON}\n`, the length of the sealed headers
(4 bytes), the sealed headers, then the sealed content: compact JSON holds no raw
newline, so the first one ends the public part. Headers and content are sealed
apart so that the views, which never read bodies, decrypt the headers only."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import Transcoder

from application.ports import Sealer

_OPTIONS = orjson.OPT_NON_STR_KEYS
SEALED_FIELDS = ("headers", "content")
ERASED: dict[str, Any] = {"erased": True}
WITHHELD: dict[str, Any] = {"withheld": True}  # in place of the content, for the views
_SEPARATOR = b"\n"


def _default(obj: Any) -> Any:
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in an event")


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default, option=_OPTIONS)


def _key_of(obj: dict[str, Any]) -> str | None:
    """Whose data key seals this event's content: a mail copy's mailbox, or a meeting copy's
    calendar (domain/calendar.py); None for an event with no content."""
    if not all(field in obj for field in SEALED_FIELDS):
        return None
    owner = obj.get("mailbox_id", obj.get("calendar_id"))
    return owner if isinstance(owner, str) else None


class OrjsonTranscoder(Transcoder):
    """`views=True` leaves a copy's content sealed: no view reads message bodies."""

    def __init__(self, sealer: Sealer | None = None, *, views: bool = False) -> None:
        self.sealer = sealer
        self.views = views

    def encode(self, obj: Any) -> bytes:
        mailbox_id = _key_of(obj) if self.sealer is not None and isinstance(obj, dict) else None
        if self.sealer is None or mailbox_id is None:
            return _dumps(obj)
        headers = self.sealer.seal(mailbox_id, _dumps(obj["headers"]))
        content = self.sealer.seal(mailbox_id, _dumps(obj["content"]))
        public = _dumps({k: v for k, v in obj.items() if k not in SEALED_FIELDS})
        return b"".join((public, _SEPARATOR, len(headers).to_bytes(4, "big"), headers, content))

    def decode(self, data: bytes) -> Any:
        public, _, sealed = (data if isinstance(data, bytes) else bytes(data)).partition(_SEPARATOR)
        obj = orjson.loads(public)
        if not isinstance(obj, dict):
            return obj
        stamp = obj.get("timestamp")
        if isinstance(stamp, str):
            obj["timestamp"] = datetime.fromisoformat(stamp)
        if sealed:
            split = 4 + int.from_bytes(sealed[:4], "big")
            owner = str(obj.get("mailbox_id", obj.get("calendar_id")))
            obj["headers"] = self._unseal(owner, sealed[4:split])
            obj["content"] = dict(WITHHELD) if self.views else self._unseal(owner, sealed[split:])
        elif "sealed" in obj:  # stored before the binary framing: base64 of {"headers", "content"}
            both = self._unseal(obj["mailbox_id"], base64.b64decode(obj.pop("sealed")))
            obj.update(both if "erased" not in both else {f: dict(ERASED) for f in SEALED_FIELDS})
        return obj

    def _unseal(self, mailbox_id: str, sealed: bytes) -> dict[str, Any]:
        plaintext = self.sealer.unseal(mailbox_id, sealed) if self.sealer else None
        if plaintext is None:
            return dict(ERASED)
        restored: dict[str, Any] = orjson.loads(plaintext)
        return restored
