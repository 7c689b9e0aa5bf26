"""How a recorded copy is stored: content sealed under its mailbox's key, headers apart."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
from sqlalchemy import create_engine

from adapters.datakeys import DataKeyStore, key_metadata, new_master_key
from application.transcoder import ERASED, WITHHELD, OrjsonTranscoder

MAILBOX = "6f1c4c52-8d0e-4a52-9a3e-5e4f7f0b9a11"
STATE = {
    "mailbox_id": MAILBOX,
    "workspace_id": "w1",
    "timestamp": "2025-06-02T10:00:00+00:00",
    "headers": {"subject": "Quarterly numbers", "from": [["carol@globex.com", "Carol"]]},
    "content": {"text": "The canary sings at dawn.", "attachments": []},
}


@pytest.fixture
def sealer(tmp_path: Path) -> DataKeyStore:
    engine = create_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    key_metadata.create_all(engine)
    return DataKeyStore(engine, new_master_key())


def test_a_copy_round_trips_and_its_content_is_not_readable_in_the_stored_bytes(sealer: DataKeyStore) -> None:
    transcoder = OrjsonTranscoder(sealer)
    stored = transcoder.encode(dict(STATE))

    assert b"canary" not in stored and b"Quarterly" not in stored and b"carol@" not in stored
    assert MAILBOX.encode() in stored  # the public part names the key to open it with
    decoded = transcoder.decode(stored)
    assert decoded["headers"] == STATE["headers"] and decoded["content"] == STATE["content"]
    assert decoded["timestamp"].isoformat() == STATE["timestamp"]


def test_the_views_decode_the_headers_and_leave_the_content_sealed(sealer: DataKeyStore) -> None:
    stored = OrjsonTranscoder(sealer).encode(dict(STATE))

    decoded = OrjsonTranscoder(sealer, views=True).decode(stored)

    assert decoded["headers"] == STATE["headers"]
    assert decoded["content"] == WITHHELD


def test_destroying_the_key_erases_headers_and_content(sealer: DataKeyStore) -> None:
    stored = OrjsonTranscoder(sealer).encode(dict(STATE))
    sealer.destroy(MAILBOX)

    decoded = OrjsonTranscoder(sealer).decode(stored)

    assert decoded["headers"] == ERASED and decoded["content"] == ERASED
    assert OrjsonTranscoder(sealer, views=True).decode(stored)["headers"] == ERASED


def test_events_stored_in_the_earlier_base64_form_still_decode(sealer: DataKeyStore) -> None:
    secret = orjson.dumps({"headers": STATE["headers"], "content": STATE["content"]})
    public = {k: v for k, v in STATE.items() if k not in ("headers", "content")}
    public["sealed"] = base64.b64encode(sealer.seal(MAILBOX, secret)).decode("ascii")
    stored = orjson.dumps(public)

    decoded = OrjsonTranscoder(sealer).decode(stored)
    assert decoded["headers"] == STATE["headers"] and decoded["content"] == STATE["content"]
    assert "sealed" not in decoded

    sealer.destroy(MAILBOX)
    erased = OrjsonTranscoder(sealer).decode(stored)
    assert erased["headers"] == ERASED and erased["content"] == ERASED


def test_events_without_content_are_plain_json(sealer: DataKeyStore) -> None:
    state = {"workspace_id": "w1", "entries": ["spam.example"], "timestamp": "2025-06-02T10:00:00+00:00"}
    stored = OrjsonTranscoder(sealer).encode(dict(state))

    assert orjson.loads(stored) == state
    assert OrjsonTranscoder(sealer).decode(stored)["entries"] == ["spam.example"]
