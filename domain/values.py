"""Value types and normalisation rules shared by the whole domain."""

from __future__ import annotations

import re
from enum import Enum
from uuid import NAMESPACE_URL, UUID, uuid5

import idna

MAILTRAIL_NAMESPACE = uuid5(NAMESPACE_URL, "https://mailtrail.invalid/ids")


class SharingLevel(str, Enum):
    """What other members see of a mailbox's copies."""

    NONE = "none"
    METADATA = "metadata"
    SUBJECT = "subject"
    FULL = "full"

    @property
    def rank(self) -> int:
        return _SHARING_RANK[self]

    @classmethod
    def highest(cls, levels: list[SharingLevel]) -> SharingLevel:
        return max(levels, key=lambda level: level.rank, default=cls.NONE)


_SHARING_RANK = {
    SharingLevel.NONE: 0,
    SharingLevel.METADATA: 1,
    SharingLevel.SUBJECT: 2,
    SharingLevel.FULL: 3,
}


class RecordPolicy(str, Enum):
    """Which participants of synced mail become person records."""

    ALL = "all"
    SELECTIVE = "selective"
    NONE = "none"


class Provider(str, Enum):
    IMAP = "imap"
    GMAIL = "gmail"
    MICROSOFT365 = "microsoft365"
    UPLOAD = "upload"
    FORWARDED = "forwarded"  # a member's captured mail (SMTP forwards and BCCs): no plan slot


class Role(str, Enum):
    MEMBER = "member"
    ADMIN = "admin"
    AUDITOR = "auditor"


class Plan(str, Enum):
    FREE = "free"
    PLUS = "plus"
    PRO = "pro"
    ENTERPRISE = "enterprise"


def stable_id(*parts: str) -> UUID:
    """A deterministic id from its parts: the same parts always give the same id."""
    return uuid5(MAILTRAIL_NAMESPACE, "\x1f".join(parts))


_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_LENIENT_DOMAIN = re.compile(r"[^\s<>()\[\],;:\"'\\@!#$%&*+/=?^`{|}~]+")
MAX_DOMAIN_CHARS = 253
MAX_LOCAL_CHARS = 256


def normalize_domain(domain: str) -> str | None:
    """Lower-cased ASCII domain (IDNA 2008 with UTS 46 mapping: `straße.example` stays
    `xn--strae-oqa.example`, never `strasse.example`), or None when it is not a usable domain:
    every label letters, digits, `-` or `_` (so `*.x.com` is refused), at most 63 characters,
    253 in all."""
    domain = domain.strip().strip(".")
    if not domain:
        return None
    if domain.isascii():
        ascii_domain = domain.lower()
    else:
        try:
            ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            return None
    if len(ascii_domain) > MAX_DOMAIN_CHARS or not all(_LABEL.fullmatch(x) for x in ascii_domain.split(".")):
        return None
    return ascii_domain


def normalize_address(address: str) -> str | None:
    """The comparable form of an email address (lower-cased, IDNA domain), or None."""
    address = address.strip().strip("<>").strip()
    local, sep, domain = address.rpartition("@")
    if not sep or not local or any(c.isspace() for c in local) or len(local) > MAX_LOCAL_CHARS:
        return None
    normalized_domain = normalize_domain(domain)
    if normalized_domain is None or "." not in normalized_domain:
        return None
    return f"{local.lower()}@{normalized_domain}"


def lenient_address(raw: str) -> str | None:
    """What filtering compares of a participant that `normalize_address` refuses (a quoted local
    part with spaces, an over-long local part or domain, garbage after the domain): its
    lower-cased local part and the domain characters after its last `@`, IDNA-mapped when they
    can be. None when there is no domain at all."""
    local, sep, rest = raw.strip().rpartition("@")
    found = _LENIENT_DOMAIN.match(rest.strip()) if sep else None
    host = found.group(0).strip(".").lower() if found else ""
    if not host:
        return None
    if not host.isascii():  # label by label, so the labels a domain entry names still compare
        host = ".".join(normalize_domain(label) or label for label in host.split("."))
    return f"{local.strip().strip('<>').strip().lower()}@{host}"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]


def domain_matches(domain: str, entry: str) -> bool:
    """True when `domain` is `entry` or one of its subdomains."""
    return domain == entry or domain.endswith("." + entry)
