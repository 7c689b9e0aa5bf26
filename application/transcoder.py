"""orjson encoding of stored events; message content sealed under its mailbox's key.

Event attributes are JSON types by design (ids as strings); only `timestamp`
is typed back. The content fields of a recorded copy (participants, subject,
bodies, attachment metadata) are stored encrypted with that mailbox's data
key, so destroying the key erases them from the log without rewriting it."""

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


def _default(obj: Any) -> Any:
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in an event")


def _is_copy_content(obj: dict[str, Any]) -> bool:
    return "mailbox_id" in obj and all(field in obj for field in SEALED_FIELDS)


class OrjsonTranscoder(Transcoder):
    def __init__(self, sealer: Sealer | None = None) -> None:
        self.sealer = sealer

    def encode(self, obj: Any) -> bytes:
        if self.sealer is not None and isinstance(obj, dict) and _is_copy_content(obj):
            secret = orjson.dumps({f: obj[f] for f in SEALED_FIELDS}, default=_default, option=_OPTIONS)
            sealed = self.sealer.seal(obj["mailbox_id"], secret)
            obj = {k: v for k, v in obj.items() if k not in SEALED_FIELDS}
            obj["sealed"] = base64.b64encode(sealed).decode("ascii")
        return orjson.dumps(obj, default=_default, option=_OPTIONS)

    def decode(self, data: bytes) -> Any:
        obj = orjson.loads(data)
        if isinstance(obj, dict):
            stamp = obj.get("timestamp")
            if isinstance(stamp, str):
                obj["timestamp"] = datetime.fromisoformat(stamp)
            sealed = obj.pop("sealed", None)
            if sealed is not None:
                obj.update(self._unseal(obj["mailbox_id"], sealed))
        return obj

    def _unseal(self, mailbox_id: str, sealed: str) -> dict[str, Any]:
        plaintext = self.sealer.unseal(mailbox_id, base64.b64decode(sealed)) if self.sealer else None
        if plaintext is None:
            return {field: dict(ERASED) for field in SEALED_FIELDS}
        restored: dict[str, Any] = orjson.loads(plaintext)
        return restored
