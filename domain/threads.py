"""Which thread a message belongs to, from its headers alone (deterministic, order-free)."""

from __future__ import annotations

import hashlib
from typing import Any

from domain.message import ParsedMessage
from domain.values import stable_id


def thread_key(headers: dict[str, Any], fallback: str) -> str:
    """The provider's thread id when known, else the thread's root Message-ID.

    References lists the thread from its root, so its first entry names the
    thread whatever order the messages arrive in; In-Reply-To is next best."""
    provider = headers.get("thread_id")
    if provider:
        return f"provider:{provider}"
    references = headers.get("references") or []
    root = references[0] if references else headers.get("in_reply_to") or headers.get("message_id")
    return f"mid:{root}" if root else f"email:{fallback}"


def thread_hashes(message: ParsedMessage) -> set[str]:
    """Hashed Message-IDs that tie a message to its thread (no content, only digests)."""
    ids = {message.message_id, message.in_reply_to, *message.references} - {None, ""}
    return {hashlib.sha256(i.encode()).hexdigest()[:24] for i in ids if i}


def thread_id_for(workspace_id: str, key: str) -> str:
    """The id of a workspace's thread (`thread_key`) in the API."""
    return str(stable_id("thread", workspace_id, key))
