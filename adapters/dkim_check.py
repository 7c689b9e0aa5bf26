"""DKIM verification of captured mail (the DkimVerifier port): dkimpy, with the public keys looked
up by dnspython, through the system's resolvers or the ones `MAILTRAIL_INBOUND_DNS` names."""

from __future__ import annotations

import logging

import dkim
import dns.exception
import dns.resolver

from application.ports import DkimResult

log = logging.getLogger(__name__)
LOOKUP_SECONDS = 5.0


class DkimpyVerifier:
    def __init__(
        self, nameservers: tuple[tuple[str, int], ...] = (), timeout: float = LOOKUP_SECONDS
    ) -> None:
        self.timeout = timeout
        if nameservers:
            self.resolver = dns.resolver.Resolver(configure=False)
            self.resolver.nameservers = [host for host, _ in nameservers]
            self.resolver.nameserver_ports = {host: port for host, port in nameservers}
        else:
            self.resolver = dns.resolver.Resolver()

    def txt(self, name: bytes | str, timeout: float = LOOKUP_SECONDS) -> bytes | None:
        """dkimpy's `dnsfunc`: the TXT record of `name` (its strings joined), or None."""
        qname = name.decode("ascii") if isinstance(name, bytes) else name
        try:
            answer = self.resolver.resolve(qname, "TXT", lifetime=min(timeout, self.timeout), search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            return None
        except dns.exception.Timeout as error:
            raise dkim.DnsTimeoutError(str(error)) from None
        for record in answer:
            return b"".join(record.strings)
        return None

    def verify(self, raw: bytes) -> DkimResult:
        """Every DKIM-Signature of the message: the domains whose signature verified, and why
        the others did not (a reason in mailtrail's words, with the signing domain)."""
        try:
            checker = dkim.DKIM(raw, timeout=int(self.timeout))
        except dkim.DKIMException:
            return DkimResult(signed=True, failures=("the message cannot be read for DKIM",))
        count = sum(1 for name, _ in checker.headers if name.lower() == b"dkim-signature")
        if count == 0:
            return DkimResult(signed=False)
        verified: list[str] = []
        failures: list[str] = []
        for index in range(count):
            checker.signature_fields = {}
            try:
                ok = checker.verify(idx=index, dnsfunc=self.txt)
            except dkim.DKIMException as error:
                ok = False
                log.info("DKIM signature %d did not verify: %s", index, error)
            domain = _signing_domain(checker)
            if ok and domain:
                verified.append(domain)
            else:
                failures.append(f"the signature of {domain or 'an unnamed domain'} does not verify")
        return DkimResult(signed=True, verified=tuple(verified), failures=tuple(failures))


def _signing_domain(checker: dkim.DKIM) -> str:
    fields = getattr(checker, "signature_fields", None) or {}
    value = fields.get(b"d", b"")
    return value.decode("ascii", "replace").lower().rstrip(".") if isinstance(value, bytes) else ""
