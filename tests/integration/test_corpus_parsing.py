"""Every message of the shared corpus parses without raising, quickly and deterministically."""

from __future__ import annotations

import mailbox
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.mime import parse_message
from domain.message import ParsedMessage
from tests.conftest import CORPUS

WHOLE_MBOX_DIRS = ("mbox-whole", "mime4j/mbox")
MAX_SECONDS_PER_MESSAGE = 5.0
MAX_SECONDS_FOR_CORPUS = 60.0

if not CORPUS.is_dir():
    pytest.skip(f"shared email corpus not found at {CORPUS}", allow_module_level=True)


def _is_whole_mbox(path: Path) -> bool:
    relative = path.relative_to(CORPUS).as_posix()
    return any(f"/{folder}/" in f"/{relative}" for folder in WHOLE_MBOX_DIRS)


def _messages() -> Iterator[tuple[str, bytes]]:
    """(label, raw bytes) of every corpus message; whole mbox files are split into theirs."""
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or path.suffix == ".md":
            continue
        label = path.relative_to(CORPUS).as_posix()
        if not _is_whole_mbox(path):
            yield label, path.read_bytes()
            continue
        box = mailbox.mbox(path, create=False)
        try:
            keys = box.keys()
            for index, key in enumerate(keys):
                yield f"{label}#{index}", box.get_bytes(key)
        finally:
            box.close()
        if not keys:  # e.g. mime4j/mbox/test-1/mbox.rlug-0: one message without a From_ line
            yield label, path.read_bytes()


MESSAGES = list(_messages())


def _timed_parse(raw: bytes) -> tuple[ParsedMessage, float]:
    start = time.perf_counter()
    message = parse_message(raw)
    return message, time.perf_counter() - start


def test_corpus_is_not_empty() -> None:
    assert len(MESSAGES) > 100
    assert any("#" in label for label, _ in MESSAGES), "the whole-mbox files gave no messages"


def test_every_corpus_message_parses_quickly_and_deterministically() -> None:
    slow: list[str] = []
    unstable: list[str] = []
    total = 0.0
    for label, raw in MESSAGES:
        first, elapsed = _timed_parse(raw)  # raising here fails the test with the label in the traceback
        second, _ = _timed_parse(raw)
        total += elapsed
        assert isinstance(first, ParsedMessage), label
        assert first.size == len(raw), label
        if elapsed > MAX_SECONDS_PER_MESSAGE:
            slow.append(f"{label}: {elapsed:.2f}s")
        if first != second:
            unstable.append(label)
    assert not slow, f"messages slower than {MAX_SECONDS_PER_MESSAGE}s: {slow}"
    assert not unstable, f"messages that parse differently twice: {unstable}"
    assert total < MAX_SECONDS_FOR_CORPUS, f"corpus took {total:.1f}s"


def _hit_the_guard(message: ParsedMessage) -> bool:
    return any(defect.startswith("parse-error:") for defect in message.defects)


def test_no_corpus_message_hits_the_final_guard() -> None:
    guarded = [label for label, raw in MESSAGES if _hit_the_guard(parse_message(raw))]
    assert not guarded, f"parse_message fell back to its final guard on: {guarded}"


def test_corpus_text_is_storable() -> None:
    for label, raw in MESSAGES:
        message = parse_message(raw)
        texts = [message.subject, message.body_text, message.body_html, message.message_id or ""]
        texts += [a.email + a.name for a in message.from_ + message.to + message.cc]
        texts += [a.filename for a in message.attachments]
        for text in texts:
            text.encode("utf-8")  # no lone surrogates
            assert "\x00" not in text, label
