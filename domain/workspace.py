"""The Workspace aggregate: members, internal domains, exclusions, policies."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import ConflictError, RuleViolationError
from domain.filtering import InternalSet
from domain.values import Plan, RecordPolicy, Role

MAILBOXES_PER_MEMBER: dict[Plan, int | None] = {
    Plan.FREE: 1,
    Plan.PLUS: 1,
    Plan.PRO: 2,
    Plan.ENTERPRISE: None,
}


class Workspace(Aggregate):
    @event("Created")
    def __init__(self, name: str, signup_domain: str, plan: str) -> None:
        self.name = name
        self.signup_domain = signup_domain
        self.plan = plan
        self.record_policy = RecordPolicy.SELECTIVE.value
        self.internal_domains: list[str] = [signup_domain]
        self.exclusions: list[str] = []
        self.legal_hold = False
        self.members: dict[str, dict[str, Any]] = {}
        self.mailbox_addresses: dict[str, list[str]] = {}
        self.mailbox_owners: dict[str, str] = {}
        self.held_mailboxes: list[str] = []

    # members -------------------------------------------------------------
    def add_member(self, member_id: str, name: str, emails: list[str], role: str) -> None:
        Role(role)
        taken = {a for m in self.members.values() for a in m["emails"]}
        if taken.intersection(emails):
            raise ConflictError("an address already belongs to a member")
        self._member_added(member_id=member_id, name=name, emails=emails, role=role)

    @event("MemberAdded")
    def _member_added(self, member_id: str, name: str, emails: list[str], role: str) -> None:
        self.members[member_id] = {"name": name, "emails": emails, "role": role}

    def register_mailbox(self, mailbox_id: str, owner_id: str, addresses: list[str]) -> None:
        """Count the owner's mailboxes against the plan; the addresses become internal."""
        self.member(owner_id)
        limit = MAILBOXES_PER_MEMBER[Plan(self.plan)]
        owned = sum(1 for owner in self.mailbox_owners.values() if owner == owner_id)
        if limit is not None and owned >= limit:
            raise RuleViolationError(
                f"the {self.plan} plan allows {limit} mailbox{'es' if limit > 1 else ''} per member"
            )
        self._mailbox_registered(mailbox_id=mailbox_id, owner_id=owner_id, addresses=addresses)

    @event("MailboxRegistered")
    def _mailbox_registered(self, mailbox_id: str, owner_id: str, addresses: list[str]) -> None:
        self.mailbox_addresses[mailbox_id] = addresses
        self.mailbox_owners[mailbox_id] = owner_id

    def unregister_mailbox(self, mailbox_id: str, held: bool) -> None:
        if mailbox_id in self.mailbox_addresses:
            self._mailbox_unregistered(mailbox_id=mailbox_id, held=held)

    @event("MailboxUnregistered")
    def _mailbox_unregistered(self, mailbox_id: str, held: bool) -> None:
        self.mailbox_addresses.pop(mailbox_id, None)
        self.mailbox_owners.pop(mailbox_id, None)
        if held:
            self.held_mailboxes = [*self.held_mailboxes, mailbox_id]

    # settings ------------------------------------------------------------
    def set_internal_domains(self, domains: list[str]) -> None:
        if sorted(domains) != sorted(self.internal_domains):
            self._internal_domains_set(domains=sorted(set(domains)))

    @event("InternalDomainsSet")
    def _internal_domains_set(self, domains: list[str]) -> None:
        self.internal_domains = domains

    def set_exclusions(self, entries: list[str]) -> None:
        if sorted(entries) != sorted(self.exclusions):
            self._exclusions_set(entries=sorted(set(entries)))

    @event("ExclusionsSet")
    def _exclusions_set(self, entries: list[str]) -> None:
        self.exclusions = entries

    def set_record_policy(self, policy: str) -> None:
        if RecordPolicy(policy).value != self.record_policy:
            self._record_policy_set(policy=policy)

    @event("RecordPolicySet")
    def _record_policy_set(self, policy: str) -> None:
        self.record_policy = policy

    def set_plan(self, plan: str) -> None:
        if Plan(plan).value != self.plan:
            self._plan_set(plan=plan)

    @event("PlanSet")
    def _plan_set(self, plan: str) -> None:
        self.plan = plan

    def set_legal_hold(self, held: bool) -> None:
        if held != self.legal_hold:
            self._legal_hold_set(held=held)

    @event("LegalHoldSet")
    def _legal_hold_set(self, held: bool) -> None:
        self.legal_hold = held

    def release_held(self) -> list[str]:
        """Held removed mailboxes, now to be erased (after the hold is lifted)."""
        released = list(self.held_mailboxes)
        if released and not self.legal_hold:
            self._held_released(mailbox_ids=released)
        return released if not self.legal_hold else []

    @event("HeldReleased")
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
