"""Value types and normalisation rules shared by the whole domain."""

from __future__ import annotations

from enum import Enum
from uuid import NAMESPACE_URL, UUID, uuid5

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


def normalize_domain(domain: str) -> str | None:
    """Lower-cased, IDNA-encoded domain, or None when it is not a usable domain."""
    domain = domain.strip().strip(".").lower()
    if not domain or any(c.isspace() for c in domain) or "@" in domain:
        return None
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        if not domain.isascii():
            return None
        ascii_domain = domain
    if ".." in ascii_domain or len(ascii_domain) > 253:
        return None
    return ascii_domain


def normalize_address(address: str) -> str | None:
    """The comparable form of an email address (lower-cased, IDNA domain), or None."""
    address = address.strip().strip("<>").strip()
    local, sep, domain = address.rpartition("@")
    if not sep or not local or any(c.isspace() for c in local) or len(local) > 256:
        return None
    normalized_domain = normalize_domain(domain)
    if normalized_domain is None or "." not in normalized_domain:
        return None
    return f"{local.lower()}@{normalized_domain}"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]


def domain_matches(domain: str, entry: str) -> bool:
    """True when `domain` is `entry` or one of its subdomains."""
    return domain == entry or domain.endswith("." + entry)
