"""Capture addresses (`<member-slug>+<token>@<inbound domain>`) and how a captured message is
read: pure rules, no I/O. The token itself is made and checked by the CaptureTokens port."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from domain.message import Address, ParsedMessage

MAX_SLUG_CHARS = 32
BCC = "bcc"
ATTACHED = "attached"
INLINE = "inline"
UNRECOVERED = "unrecovered"


def member_slug(name: str, emails: list[str]) -> str:
    """The readable half of a member's capture address: the name folded to ASCII letters and
    digits joined by `-` ("Zoë Martín" -> "zoe-martin"), else the first address's local part,
    else "member". Not unique: the token tells members with the same slug apart."""
    for text in (name, emails[0].partition("@")[0] if emails else ""):
        folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
        slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:MAX_SLUG_CHARS].strip("-")
        if slug:
            return slug
    return "member"


def split_capture_address(address: str, inbound_domain: str) -> tuple[str, str] | None:
    """(slug, token) of an address on the inbound domain, or None when it is not one."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or domain.lower().rstrip(".") != inbound_domain.lower():
        return None
    slug, plus, token = local.lower().partition("+")
    if not plus or not slug or not token:
        return None
    return slug, token


def capture_address(slug: str, token: str, inbound_domain: str) -> str:
    return f"{slug}+{token}@{inbound_domain}"


def is_forward(outer: ParsedMessage, member_addresses: set[str], envelope: set[str]) -> bool:
    """A message the member sent to the capture address alone (no other visible To or Cc) is a
    forward; one that also went to someone else is the member's own mail, captured by BCC."""
    others = [a for a in (*outer.to, *outer.cc) if a.email not in envelope | member_addresses]
    return not others


def without(message: ParsedMessage, dropped: set[str]) -> ParsedMessage:
    """The message without the capture addresses among its participants."""

    def keep(group: tuple[Address, ...]) -> tuple[Address, ...]:
        return tuple(a for a in group if a.email not in dropped)

    return replace(
        message,
        to=keep(message.to),
        cc=keep(message.cc),
        bcc=keep(message.bcc),
        reply_to=keep(message.reply_to),
        unparsed=tuple(u for u in message.unparsed if u not in dropped),
    )


def dkim_aligned(from_domain: str, signing_domain: str) -> bool:
    """A signature speaks for the From address when its domain (d=) is the address's domain or a
    parent of it (DMARC's relaxed alignment: d=acme.com signs for bob@eu.acme.com)."""
    d = signing_domain.lower().rstrip(".")
    return from_domain == d or from_domain.endswith("." + d)
