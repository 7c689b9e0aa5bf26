"""The MailTrail event-sourced application: commands over the aggregates."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Mapper, Transcoder

from application.errors import ConflictError, ForbiddenError, NotFoundError, RuleViolationError
from application.ports import DomainCatalog, Sealer
from application.transcoder import OrjsonTranscoder
from domain.company import Company
from domain.filtering import matches_any
from domain.lead import Lead
from domain.mailbox import Mailbox, check_provider
from domain.ownership import Login, proven_by_login
from domain.person import AddressClaim, Person
from domain.records import FanOutLimits
from domain.synced_message import SyncedMessage
from domain.values import Plan, normalize_address, normalize_domain
from domain.workspace import Workspace

A = TypeVar("A", bound=Aggregate)


class MailTrail(Application[UUID]):
    name = "mailtrail"

    def __init__(
        self,
        catalog: DomainCatalog,
        sealer: Sealer | None = None,
        env: dict[str, str] | None = None,
        fan_out: FanOutLimits | None = None,
    ) -> None:
        self.sealer = sealer
        self.fan_out = fan_out or FanOutLimits()
        # A cached aggregate is fast-forwarded from the store on every get, so it is never stale.
        super().__init__(env={"AGGREGATE_CACHE_MAXSIZE": "1000", **(env or {})})
        self.catalog = catalog

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder(self.sealer)

    def view_mapper(self) -> Mapper[UUID]:
        """The library's mapper with a transcoder that leaves a copy's bodies sealed: no view reads them."""
        return self.factory.mapper(transcoder=OrjsonTranscoder(self.sealer, views=True))

    # loading ---------------------------------------------------------------
    def load(self, cls: type[A], aggregate_id: UUID | str, workspace_id: str | None = None) -> A:
        """Load an aggregate of `cls`, visible only inside `workspace_id` when given."""
        try:
            aggregate = self.repository.get(UUID(str(aggregate_id)))
        except (AggregateNotFoundError, ValueError):
            raise NotFoundError(f"{cls.__name__} {aggregate_id} not found") from None
        if not isinstance(aggregate, cls):
            raise NotFoundError(f"{cls.__name__} {aggregate_id} not found")
        if workspace_id is not None and str(getattr(aggregate, "workspace_id", aggregate.id)) != workspace_id:
            raise NotFoundError(f"{cls.__name__} {aggregate_id} not found")
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def save_all(self, *aggregates: Aggregate) -> int:
        """Save atomically and return the last notification id."""
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            raise ConflictError("a concurrent change conflicted; try again") from None
        return recordings[-1].notification.id if recordings else self.recorder.max_notification_id() or 0

    # workspace -------------------------------------------------------------
    def create_workspace(
        self, name: str, domain: str, admin_name: str, admin_email: str, plan: str = "free"
    ) -> tuple[str, str]:
        signup_domain = _domain(domain)
        Plan(plan)
        workspace = Workspace(name=name, signup_domain=signup_domain, plan=plan)
        member_id = str(uuid4())
        workspace.add_member(member_id, admin_name, [_address(admin_email)], "admin")
        self.save_all(workspace)
        return str(workspace.id), member_id

    def add_member(self, workspace_id: str, name: str, emails: list[str], role: str) -> str:
        workspace = self.load(Workspace, workspace_id)
        member_id = str(uuid4())
        workspace.add_member(member_id, name, [_address(e) for e in emails], role)
        self.save_all(workspace)
        return member_id

    def add_member_email(self, workspace_id: str, member_id: str, email: str) -> int:
        workspace = self.load(Workspace, workspace_id)
        if member_id not in workspace.members:
            raise NotFoundError(f"member {member_id} not found")
        workspace.add_member_email(member_id, _address(email))
        return self.save_all(workspace)

    def update_settings(self, workspace_id: str, changes: dict[str, Any]) -> int:
        workspace = self.load(Workspace, workspace_id)
        if "internal_domains" in changes:
            workspace.set_internal_domains([_domain(d) for d in changes["internal_domains"]])
        if "auto_internal_domains" in changes:
            workspace.set_auto_internal_domains(bool(changes["auto_internal_domains"]))
        if "exclusions" in changes:
            workspace.set_exclusions([_entry(e) for e in changes["exclusions"]])
        if "record_creation" in changes:
            workspace.set_record_policy(changes["record_creation"])
        if "plan" in changes:
            workspace.set_plan(changes["plan"])
        if "legal_hold" in changes:
            workspace.set_legal_hold(bool(changes["legal_hold"]))
        erased = [self.load(Mailbox, m) for m in workspace.release_held()]
        for mailbox in erased:
            mailbox.erase()
        position = self.save_all(workspace, *erased)
        self._destroy_keys(erased)
        return position

    def _destroy_keys(self, mailboxes: list[Mailbox]) -> None:
        """After the Erased events are saved: destroy the keys (replayable if interrupted)."""
        if self.sealer is not None:
            for mailbox in mailboxes:
                self.sealer.destroy(str(mailbox.id))

    # mailboxes -------------------------------------------------------------
    def connect_mailbox(
        self,
        workspace_id: str,
        owner_id: str,
        provider: str,
        address: str,
        aliases: list[str],
        connection: dict[str, Any] | None = None,
        login: Login | None = None,
    ) -> str:
        """`login`: the login the server accepted just now (a connected account), if any."""
        workspace = self.load(Workspace, workspace_id)
        workspace.member(owner_id)
        check_provider(provider)
        addresses = list(dict.fromkeys([_address(address), *(_address(a) for a in aliases)]))
        mailbox = Mailbox(
            workspace_id=workspace_id,
            owner_id=owner_id,
            provider=provider,
            address=addresses[0],
            aliases=addresses[1:],
            connection=connection or {},
        )
        hosted = login is not None and self.catalog.verifies_domain_owners(login.host)
        proven = [a for a in addresses if proven_by_login(a, login, hosted)]
        domain = addresses[0].rpartition("@")[2]
        workspace.register_mailbox(
            str(mailbox.id), owner_id, provider, addresses, proven, self.catalog.is_free_mail(domain)
        )
        self.save_all(workspace, mailbox)
        return str(mailbox.id)

    def set_connected(self, workspace_id: str, mailbox_id: str, connected: bool) -> int:
        """Disconnect or reconnect: the mailbox keeps its cursor and history."""
        mailbox = self.load(Mailbox, mailbox_id, workspace_id)
        mailbox.reconnect() if connected else mailbox.disconnect()
        return self.save_all(mailbox)

    def remove_mailbox(self, workspace_id: str, mailbox_id: str, actor_id: str) -> int:
        """Retract the mailbox's copies everywhere; erase them unless under legal hold."""
        mailbox = self.load(Mailbox, mailbox_id, workspace_id)
        workspace = self.load(Workspace, workspace_id)
        if mailbox.owner_id != actor_id and workspace.member(actor_id)["role"] != "admin":
            raise ForbiddenError("only the mailbox's owner or an admin can remove it")
        held = workspace.legal_hold
        mailbox.remove(held=held)
        workspace.unregister_mailbox(mailbox_id, held=held)
        if not held:
            mailbox.erase()
        position = self.save_all(workspace, mailbox)
        if not held:
            self._destroy_keys([mailbox])
        return position

    def change_sharing(self, workspace_id: str, mailbox_id: str, level: str) -> int:
        mailbox = self.load(Mailbox, mailbox_id, workspace_id)
        mailbox.change_sharing(level)
        return self.save_all(mailbox)

    def block(self, workspace_id: str, mailbox_id: str, entry: str) -> int:
        mailbox = self.load(Mailbox, mailbox_id, workspace_id)
        mailbox.block(_entry(entry))
        return self.save_all(mailbox)

    def unblock(self, workspace_id: str, mailbox_id: str, entry: str) -> int:
        mailbox = self.load(Mailbox, mailbox_id, workspace_id)
        mailbox.unblock(_entry(entry))
        return self.save_all(mailbox)

    # shares ----------------------------------------------------------------
    def share(
        self, workspace_id: str, copy_id: str, actor_id: str, members: list[str], everyone: bool, thread: bool
    ) -> str:
        """Share the actor's own copy (or its thread) in full; returns the grant id."""
        copy = self.load(SyncedMessage, copy_id, workspace_id)
        mailbox = self.load(Mailbox, copy.mailbox_id, workspace_id)
        if mailbox.owner_id != actor_id:
            raise ForbiddenError("only the owner of a copy can share it")
        workspace = self.load(Workspace, workspace_id)
        for member_id in members:
            workspace.member(member_id)
        grant_id = str(uuid4())
        copy.share(grant_id, actor_id, sorted(set(members)), everyone, thread)
        self.save_all(copy)
        return grant_id

    def revoke_share(self, workspace_id: str, copy_id: str, grant_id: str, actor_id: str) -> int:
        copy = self.load(SyncedMessage, copy_id, workspace_id)
        mailbox = self.load(Mailbox, copy.mailbox_id, workspace_id)
        workspace = self.load(Workspace, workspace_id)
        if mailbox.owner_id != actor_id and workspace.member(actor_id)["role"] != "admin":
            raise ForbiddenError("only the copy's owner or an admin can revoke a share")
        copy.revoke(grant_id)
        return self.save_all(copy)

    # records ---------------------------------------------------------------
    def create_person(self, workspace_id: str, name: str, emails: list[str]) -> str:
        workspace = self.load(Workspace, workspace_id)
        addresses = list(dict.fromkeys(_address(e) for e in emails))
        for address in addresses:
            _check_can_be_person(workspace, address)
        person = Person(
            workspace_id=workspace_id, name=name, addresses=addresses, origin={"manual": True}
        )
        claims = [
            AddressClaim(workspace_id=workspace_id, address=a, person_id=str(person.id))
            for a in addresses
        ]
        companies = self.companies_for(workspace_id, addresses, {"manual": True})
        try:
            self.save(person, *claims, *companies)
        except IntegrityError:
            raise ConflictError("an address already belongs to a person") from None
        return str(person.id)

    def add_person_address(self, workspace_id: str, person_id: str, email: str) -> int:
        person = self.load(Person, person_id, workspace_id)
        address = _address(email)
        _check_can_be_person(self.load(Workspace, workspace_id), address)
        if address in person.addresses:
            return self.recorder.max_notification_id() or 0
        person.add_address(address)
        claim = AddressClaim(workspace_id=workspace_id, address=address, person_id=person_id)
        companies = self.companies_for(workspace_id, [address], {"manual": True})
        try:
            return self.save(person, claim, *companies)[-1].notification.id
        except IntegrityError:
            raise ConflictError(f"{address} already belongs to a person") from None

    def merge_people(self, workspace_id: str, target_id: str, other_id: str) -> int:
        """`other` joins `target`: its addresses (and so its emails) follow; the merge is an event."""
        target = self.load(Person, target_id, workspace_id)
        other = self.load(Person, other_id, workspace_id)
        if target.merged_into is not None:
            raise RuleViolationError("the target person was merged into another")
        other.merge_into(target_id)
        claims = [self.load(AddressClaim, AddressClaim.create_id(workspace_id, a)) for a in other.addresses]
        for address, claim in zip(other.addresses, claims, strict=True):
            target.add_address(address)
            claim.transfer(target_id)
        return self.save_all(other, target, *claims)

    def create_lead(self, workspace_id: str, name: str, contacts: list[str]) -> str:
        for person_id in contacts:
            person = self.load(Person, person_id, workspace_id)
            if person.merged_into is not None:
                raise RuleViolationError(f"person {person_id} was merged into {person.merged_into}")
        lead = Lead(workspace_id=workspace_id, name=name, contacts=list(dict.fromkeys(contacts)))
        self.save_all(lead)
        return str(lead.id)

    def add_lead_contact(self, workspace_id: str, lead_id: str, person_id: str) -> int:
        lead = self.load(Lead, lead_id, workspace_id)
        self.load(Person, person_id, workspace_id)
        lead.add_contact(person_id)
        return self.save_all(lead)

    def create_company(self, workspace_id: str, domain: str, name: str | None = None) -> str:
        host = _domain(domain)
        company = Company(
            workspace_id=workspace_id,
            domain=host,
            name=name or self.catalog.company_name(host),
            origin={"manual": True},
        )
        try:
            self.save(company)
        except IntegrityError:
            raise ConflictError(f"a company for {host} exists") from None
        return str(company.id)

    def companies_for(
        self, workspace_id: str, addresses: list[str], origin: dict[str, Any], known: set[UUID] | None = None
    ) -> list[Company]:
        """New companies for the non-free-mail domains of `addresses`."""
        companies: dict[UUID, Company] = {}
        for address in addresses:
            host = address.rpartition("@")[2]
            if self.catalog.is_free_mail(host):
                continue
            company_id = Company.create_id(workspace_id, host)
            if company_id in companies or (known is not None and company_id in known):
                continue
            if self.exists(company_id):
                if known is not None:
                    known.add(company_id)
                continue
            companies[company_id] = Company(
                workspace_id=workspace_id,
                domain=host,
                name=self.catalog.company_name(host),
                origin=origin,
            )
        return list(companies.values())


def _check_can_be_person(workspace: Workspace, address: str) -> None:
    if workspace.internal_set().is_internal(address):
        raise RuleViolationError(f"{address} is internal and cannot be a person")
    if matches_any(address, workspace.exclusions):
        raise RuleViolationError(f"{address} is excluded by the workspace and cannot be a person")


def _address(value: str) -> str:
    address = normalize_address(value)
    if address is None:
        raise RuleViolationError(f"{value!r} is not an email address")
    return address


def _domain(value: str) -> str:
    domain = normalize_domain(value)
    if domain is None or "." not in domain:
        raise RuleViolationError(f"{value!r} is not a domain")
    return domain


def _entry(value: str) -> str:
    """A blocklist or exclusion entry: an address or a domain."""
    return _address(value) if "@" in value else _domain(value)
