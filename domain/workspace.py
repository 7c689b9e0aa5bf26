"""The Workspace aggregate: members, internal domains, exclusions, policies."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import ConflictError, RuleViolationError
from domain.filtering import InternalSet
from domain.outbox import SendLimits
from domain.ownership import verified
from domain.values import Plan, Provider, RecordPolicy, Role, domain_of

MAILBOXES_PER_MEMBER: dict[Plan, int | None] = {
    Plan.FREE: 1,
    Plan.PLUS: 1,
    Plan.PRO: 2,
    Plan.ENTERPRISE: None,
}


class Workspace(Aggregate):
    class Created(Aggregate.Created):
        """`record_policy` and `auto_internal_domains` are what a new workspace starts with (and
        what the events stored before they were fields started with)."""

        name: str
        signup_domain: str
        plan: str
        record_policy: str = RecordPolicy.SELECTIVE.value
        auto_internal_domains: bool = True

    @event(Created)
    def __init__(
        self,
        name: str,
        signup_domain: str,
        plan: str,
        record_policy: str = Created.record_policy,
        auto_internal_domains: bool = Created.auto_internal_domains,
    ) -> None:
        self.name = name
        self.signup_domain = signup_domain
        self.plan = plan
        self.record_policy = record_policy
        self.internal_domains: list[str] = [signup_domain]
        self.explicit_domains: list[str] = [signup_domain]  # set by an admin (or the signup)
        self.mailbox_domains: dict[str, str] = {}  # mailbox id -> the domain it made internal
        self.auto_internal_domains = auto_internal_domains
        self.exclusions: list[str] = []
        self.legal_hold = False
        self.members: dict[str, dict[str, Any]] = {}
        self.mailbox_addresses: dict[str, list[str]] = {}  # verified: these count as internal
        self.mailbox_claims: dict[str, list[str]] = {}  # every address, verified or not
        self.mailbox_owners: dict[str, str] = {}
        self.held_mailboxes: list[str] = []
        self.capture_generations: dict[str, int] = {}  # member id -> rotations of their capture address
        self.forwarded_mailboxes: dict[str, str] = {}  # member id -> their live `forwarded` mailbox
        self.send_limits: dict[str, int] = SendLimits().as_dict()

    # members -------------------------------------------------------------
    def add_member(self, member_id: str, name: str, emails: list[str], role: str) -> None:
        Role(role)
        if self._claimed_by_others(emails, owner_id=None):
            raise ConflictError("an address already belongs to a member")
        self._member_added(member_id=member_id, name=name, emails=emails, role=role)

    class MemberAdded(Aggregate.Event):
        member_id: str
        name: str
        emails: list[str]
        role: str

    @event(MemberAdded)
    def _member_added(self, member_id: str, name: str, emails: list[str], role: str) -> None:
        self.members[member_id] = {"name": name, "emails": emails, "role": role}

    def add_member_email(self, member_id: str, address: str) -> None:
        """An admin gives a member one more address (which then counts as verified and internal)."""
        if address in self.member(member_id)["emails"]:
            return
        if self._claimed_by_others([address], owner_id=member_id):
            raise ConflictError(f"{address} already belongs to another member")
        self._member_email_added(member_id=member_id, address=address)

    class MemberEmailAdded(Aggregate.Event):
        member_id: str
        address: str

    @event(MemberEmailAdded)
    def _member_email_added(self, member_id: str, address: str) -> None:
        member = self.members[member_id]
        self.members[member_id] = {**member, "emails": [*member["emails"], address]}

    def register_mailbox(
        self,
        mailbox_id: str,
        owner_id: str,
        provider: str,
        addresses: list[str],
        proven: list[str],
        free_mail: bool,
    ) -> None:
        """Count the owner's mailboxes against the plan and claim the addresses for the owner.

        An upload mailbox's addresses must be the owner's member addresses (422); an address
        of another member or of another member's mailbox is a conflict (409). The verified
        addresses (the owner's member addresses, and `proven` ones, which a login proved)
        become internal; the address's domain too when it is verified, not `free_mail`, and
        the admins have not turned `auto_internal_domains` off."""
        own = self.member(owner_id)["emails"]
        forwarded = Provider(provider) is Provider.FORWARDED
        if forwarded and owner_id in self.forwarded_mailboxes:
            raise ConflictError("the member already has a forwarded mailbox")
        if not forwarded:  # a forwarded mailbox takes no plan slot
            self.check_mailbox_allowed(owner_id)
        if self._claimed_by_others(addresses, owner_id):
            raise ConflictError("an address already belongs to another member")
        if Provider(provider) in (Provider.UPLOAD, Provider.FORWARDED) and not set(addresses) <= set(own):
            strangers = ", ".join(a for a in addresses if a not in own)
            raise RuleViolationError(
                f"an {provider} mailbox takes only its owner's own addresses, not {strangers}"
            )
        internal = verified(addresses, own, proven)
        domain = domain_of(addresses[0])
        makes_internal = addresses[0] in internal and not free_mail and self.auto_internal_domains
        self._mailbox_registered(
            mailbox_id=mailbox_id,
            owner_id=owner_id,
            addresses=internal,
            claimed=addresses,
            domain=domain if makes_internal else None,
            forwarded=forwarded,
        )
        if makes_internal and domain not in self.internal_domains:
            self._internal_domains_set(**self._domains_state(sorted({*self.internal_domains, domain})))

    class MailboxRegistered(Aggregate.Event):
        """`addresses` are the verified ones, `claimed` all of them (absent from events stored
        before unverified addresses were kept: then all were verified); `domain` is the one the
        mailbox made internal; `forwarded`: the member's captured mail (no plan slot)."""

        mailbox_id: str
        owner_id: str
        addresses: list[str]
        claimed: list[str] | None = None
        domain: str | None = None
        forwarded: bool = False

    @event(MailboxRegistered)
    def _mailbox_registered(
        self,
        mailbox_id: str,
        owner_id: str,
        addresses: list[str],
        claimed: list[str] | None = MailboxRegistered.claimed,
        domain: str | None = MailboxRegistered.domain,
        forwarded: bool = MailboxRegistered.forwarded,
    ) -> None:
        if forwarded:
            self.forwarded_mailboxes = {**self.forwarded_mailboxes, owner_id: mailbox_id}
        self.mailbox_addresses[mailbox_id] = addresses
        self.mailbox_claims[mailbox_id] = claimed if claimed is not None else addresses
        self.mailbox_owners[mailbox_id] = owner_id
        if domain is not None:
            self.mailbox_domains = {**self.mailbox_domains, mailbox_id: domain}

    def check_mailbox_allowed(self, owner_id: str) -> None:
        """The plan allows the owner one more mailbox (422 otherwise)."""
        limit = MAILBOXES_PER_MEMBER[Plan(self.plan)]
        slots = set(self.forwarded_mailboxes.values())  # a forwarded mailbox takes no plan slot
        owned = sum(1 for m, owner in self.mailbox_owners.items() if owner == owner_id and m not in slots)
        if limit is not None and owned >= limit:
            raise RuleViolationError(
                f"the {self.plan} plan allows {limit} mailbox{'es' if limit > 1 else ''} per member"
            )

    def prove_mailbox_addresses(self, mailbox_id: str, proven: list[str], free_mail: bool) -> None:
        """A sign-in after registration (OAuth) proved some of a mailbox's addresses: they become
        verified as a login's do at registration (and make the domain internal likewise). The
        mailbox is registered again with its new verified set (the same event, replayed alike)."""
        claimed = self.mailbox_claims.get(mailbox_id)
        owner_id = self.mailbox_owners.get(mailbox_id)
        if not claimed or owner_id is None:
            return
        internal = verified(claimed, self.member(owner_id)["emails"], proven)
        if internal == self.mailbox_addresses.get(mailbox_id):
            return
        domain = domain_of(claimed[0])
        makes_internal = claimed[0] in internal and not free_mail and self.auto_internal_domains
        self._mailbox_registered(
            mailbox_id=mailbox_id,
            owner_id=owner_id,
            addresses=internal,
            claimed=claimed,
            domain=domain if makes_internal else self.mailbox_domains.get(mailbox_id),
        )
        if makes_internal and domain not in self.internal_domains:
            self._internal_domains_set(**self._domains_state(sorted({*self.internal_domains, domain})))

    def unregister_mailbox(self, mailbox_id: str, held: bool) -> None:
        """The mailbox's addresses are released, and the domain it made internal stops being
        internal unless an admin set it or another mailbox still makes it so."""
        if mailbox_id not in self.mailbox_addresses:
            return
        domain = self.mailbox_domains.get(mailbox_id)
        self._mailbox_unregistered(mailbox_id=mailbox_id, held=held)
        still_made = domain in self.mailbox_domains.values()
        if domain is not None and domain not in self.explicit_domains and not still_made:
            remaining = [d for d in self.internal_domains if d != domain]
            self._internal_domains_set(**self._domains_state(remaining))

    class MailboxUnregistered(Aggregate.Event):
        mailbox_id: str
        held: bool

    @event(MailboxUnregistered)
    def _mailbox_unregistered(self, mailbox_id: str, held: bool) -> None:
        self.mailbox_addresses.pop(mailbox_id, None)
        self.mailbox_claims.pop(mailbox_id, None)
        self.mailbox_owners.pop(mailbox_id, None)
        self.mailbox_domains = {m: d for m, d in self.mailbox_domains.items() if m != mailbox_id}
        self.forwarded_mailboxes = {o: m for o, m in self.forwarded_mailboxes.items() if m != mailbox_id}
        if held:
            self.held_mailboxes = [*self.held_mailboxes, mailbox_id]

    def _claimed_by_others(self, addresses: list[str], owner_id: str | None) -> bool:
        """Whether another member has one of these addresses, as a member address or a mailbox's."""
        taken = {a for m_id, m in self.members.items() if m_id != owner_id for a in m["emails"]}
        for mailbox_id, claimed in self.mailbox_claims.items():
            if self.mailbox_owners.get(mailbox_id) != owner_id:
                taken.update(claimed)
        return bool(taken.intersection(addresses))

    # capture addresses ---------------------------------------------------
    def rotate_capture_address(self, member_id: str) -> None:
        """A new capture address for the member; the one before is refused from now on. The
        event carries the generation only: the token is derived from it (CaptureTokens)."""
        self.member(member_id)
        self._capture_address_rotated(member_id=member_id, generation=self.capture_generation(member_id) + 1)

    class CaptureAddressRotated(Aggregate.Event):
        member_id: str
        generation: int

    @event(CaptureAddressRotated)
    def _capture_address_rotated(self, member_id: str, generation: int) -> None:
        self.capture_generations = {**self.capture_generations, member_id: generation}

    def capture_generation(self, member_id: str) -> int:
        return self.capture_generations.get(member_id, 0)

    def member_addresses(self, member_id: str) -> set[str]:
        """The member's own addresses: member addresses and their mailboxes' verified ones."""
        own = set(self.member(member_id)["emails"])
        for mailbox_id, owner in self.mailbox_owners.items():
            if owner == member_id:
                own.update(self.mailbox_addresses.get(mailbox_id, ()))
        return own

    # settings ------------------------------------------------------------
    def set_internal_domains(self, domains: list[str]) -> None:
        """An admin's list: added domains are theirs; removed ones stop being internal even when
        a mailbox had made them so (until a mailbox connected later makes them so again)."""
        wanted = sorted(set(domains))
        if wanted == sorted(self.internal_domains):
            return
        removed = set(self.internal_domains) - set(wanted)
        explicit = sorted((set(self.explicit_domains) | (set(wanted) - set(self.internal_domains))) - removed)
        self._internal_domains_set(
            domains=wanted,
            explicit=explicit,
            mailbox_domains={m: d for m, d in self.mailbox_domains.items() if d not in removed},
        )

    def _domains_state(self, domains: list[str]) -> dict[str, Any]:
        return {
            "domains": domains,
            "explicit": list(self.explicit_domains),
            "mailbox_domains": dict(self.mailbox_domains),
        }

    class InternalDomainsSet(Aggregate.Event):
        """`explicit`: the domains an admin set; absent from events stored before it existed,
        whose domains were all an admin's (or a connection's) doing."""

        domains: list[str]
        explicit: list[str] | None = None
        mailbox_domains: dict[str, str] | None = None

    @event(InternalDomainsSet)
    def _internal_domains_set(
        self,
        domains: list[str],
        explicit: list[str] | None = InternalDomainsSet.explicit,
        mailbox_domains: dict[str, str] | None = InternalDomainsSet.mailbox_domains,
    ) -> None:
        self.internal_domains = domains
        self.explicit_domains = explicit if explicit is not None else domains
        if mailbox_domains is not None:
            self.mailbox_domains = mailbox_domains

    def set_auto_internal_domains(self, enabled: bool) -> None:
        """Whether verified mailboxes connected from now on make their domain internal."""
        if enabled != self.auto_internal_domains:
            self._auto_internal_domains_set(enabled=enabled)

    class AutoInternalDomainsSet(Aggregate.Event):
        enabled: bool

    @event(AutoInternalDomainsSet)
    def _auto_internal_domains_set(self, enabled: bool) -> None:
        self.auto_internal_domains = enabled

    def set_exclusions(self, entries: list[str]) -> None:
        if sorted(entries) != sorted(self.exclusions):
            self._exclusions_set(entries=sorted(set(entries)))

    class ExclusionsSet(Aggregate.Event):
        entries: list[str]

    @event(ExclusionsSet)
    def _exclusions_set(self, entries: list[str]) -> None:
        self.exclusions = entries

    def set_record_policy(self, policy: str) -> None:
        if RecordPolicy(policy).value != self.record_policy:
            self._record_policy_set(policy=policy)

    class RecordPolicySet(Aggregate.Event):
        policy: str

    @event(RecordPolicySet)
    def _record_policy_set(self, policy: str) -> None:
        self.record_policy = policy

    def set_plan(self, plan: str) -> None:
        if Plan(plan).value != self.plan:
            self._plan_set(plan=plan)

    class PlanSet(Aggregate.Event):
        plan: str

    @event(PlanSet)
    def _plan_set(self, plan: str) -> None:
        self.plan = plan

    def set_send_limits(self, per_hour: int, per_day: int, spacing_seconds: int) -> None:
        limits = SendLimits.checked(per_hour, per_day, spacing_seconds).as_dict()
        if limits != self.send_limits:
            self._send_limits_set(**limits)

    class SendLimitsSet(Aggregate.Event):
        per_hour: int
        per_day: int
        spacing_seconds: int

    @event(SendLimitsSet)
    def _send_limits_set(self, per_hour: int, per_day: int, spacing_seconds: int) -> None:
        self.send_limits = {"per_hour": per_hour, "per_day": per_day, "spacing_seconds": spacing_seconds}

    def limits(self) -> SendLimits:
        return SendLimits(**self.send_limits)

    def set_legal_hold(self, held: bool) -> None:
        if held != self.legal_hold:
            self._legal_hold_set(held=held)

    class LegalHoldSet(Aggregate.Event):
        held: bool

    @event(LegalHoldSet)
    def _legal_hold_set(self, held: bool) -> None:
        self.legal_hold = held

    def release_held(self) -> list[str]:
        """Held removed mailboxes, now to be erased (after the hold is lifted)."""
        released = list(self.held_mailboxes)
        if released and not self.legal_hold:
            self._held_released(mailbox_ids=released)
        return released if not self.legal_hold else []

    class HeldReleased(Aggregate.Event):
        mailbox_ids: list[str]

    @event(HeldReleased)
    def _held_released(self, mailbox_ids: list[str]) -> None:
        self.held_mailboxes = [m for m in self.held_mailboxes if m not in mailbox_ids]

    # derived ---------------------------------------------------------------
    def member(self, member_id: str) -> dict[str, Any]:
        try:
            return self.members[member_id]
        except KeyError:
            raise RuleViolationError(f"no member {member_id} in this workspace") from None

    def internal_set(self) -> InternalSet:
        addresses = {a for m in self.members.values() for a in m["emails"]}
        for mailbox_addresses in self.mailbox_addresses.values():
            addresses.update(mailbox_addresses)
        return InternalSet(frozenset(self.internal_domains), frozenset(addresses))
