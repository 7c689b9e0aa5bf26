"""orjson encoding of stored events: event attributes are JSON types by design."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder

_OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(obj: Any) -> Any:
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in an event")


class OrjsonTranscoder(Transcoder):
    """Events carry str, int, bool, lists and dicts; only `timestamp` is typed back.

    UUIDs are written as strings, so commands put ids into events as strings."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=_default, option=_OPTIONS)

    def decode(self, data: bytes) -> Any:
        obj = orjson.loads(data)
        if isinstance(obj, dict):
            stamp = obj.get("timestamp")
            if isinstance(stamp, str):
                obj["timestamp"] = datetime.fromisoformat(stamp)
            topic_id = obj.get("originator_id")
            if isinstance(topic_id, str):
                obj["originator_id"] = UUID(topic_id)
        return obj
