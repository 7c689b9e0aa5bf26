"""Mailboxes connected by OAuth (Gmail, Microsoft 365): the authorization-code flow with PKCE,
the callback that seals the grant and starts the sync, reconnecting, and the access tokens the
syncs use (refreshed before they expire).

The mailbox is registered when the flow starts (`authorizing`), so the plan limit and the
address claims are checked before the owner is sent to the provider. The `state` is single use,
bound to the member and the mailbox, and expires after STATE_SECONDS (the OAuthStates port).
The grant (msal's token cache, Google's refresh token) goes to the KeyStore only; events carry
statuses and reasons, never a token."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eventsourcing.domain import Aggregate

from application.app import MailTrail
from application.errors import ConflictError, DomainError, ReconnectNeeded, RuleViolationError
from application.ports import (
    KeyStore,
    MailServerError,
    MailUnavailableError,
    OAuthGrant,
    OAuthProvider,
    OAuthStates,
    PendingAuthorization,
)
from application.services.mailboxes import Mailboxes
from domain.authority import require_owner
from domain.inputs import address as normalized
from domain.mailbox import ACTIVE, AUTHORIZING, ERROR, REMOVED, Mailbox
from domain.ownership import Login, proven_by_login
from domain.workspace import Workspace

log = logging.getLogger(__name__)

OAUTH_PROVIDERS = ("gmail", "microsoft365")
STATE_SECONDS = 600.0
REFRESH_MARGIN = 300.0  # an access token is refreshed this long before it expires
JUST_REFRESHED = 10.0  # a forced refresh within this of the last one uses that one
PROVIDER_NAMES = {"gmail": "Google", "microsoft365": "Microsoft"}
# The mail host whose login a provider's sign-in stands for (MAILTRAIL_VERIFYING_MAIL_HOSTS decides
# whether it proves the address's domain, as for an IMAP login there).
PROVIDER_HOSTS = {"gmail": "imap.gmail.com", "microsoft365": "outlook.office365.com"}


class InvalidStateError(DomainError):
    """The callback's state is unknown, used already, expired or tampered with (400)."""


@dataclass(frozen=True)
class Authorization:
    """A mailbox waiting for its owner's consent: where to send the owner."""

    id: str
    position: int
    authorization_url: str


@dataclass(frozen=True)
class CallbackOutcome:
    mailbox_id: str
    workspace_id: str
    status: str
    reason: str
    position: int


def code_challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636): base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_verifier() -> str:
    return secrets.token_urlsafe(64)[:96]  # 43..128 characters of the unreserved set


class OAuthConnections:
    def __init__(
        self,
        app: MailTrail,
        keystore: KeyStore,
        states: OAuthStates,
        providers: Mapping[str, OAuthProvider],
        mailboxes: Mailboxes,
        redirect_uri: str,
        connections: Mapping[str, Mapping[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.connections = connections or {}  # per provider, e.g. Gmail's IMAP host (bootstrap)
        self.keystore = keystore
        self.states = states
        self.providers = providers
        self.mailboxes = mailboxes
        self.redirect_uri = redirect_uri
        self.clock = clock

    def provider(self, name: str) -> OAuthProvider:
        provider = self.providers.get(name)
        if provider is None:
            raise RuleViolationError(
                f"{name} is not configured on this server (no OAuth client id and secret)"
            )
        return provider

    # connecting ---------------------------------------------------------------------
    def start(
        self, workspace_id: str, owner_id: str, provider: str, address_: str | None, aliases: list[str]
    ) -> Authorization:
        """Register the mailbox (`authorizing`: the plan limit is checked now) and answer where
        to send its owner for consent. Without `address_` the mailbox takes the address of the
        account that signs in, and is registered (its claims checked) at the callback."""
        oauth = self.provider(provider)
        connection: dict[str, Any] = {"auth": "oauth", **self.connections.get(provider, {})}
        if address_ is None:
            return self._start_without_address(oauth, workspace_id, owner_id, provider, aliases, connection)
        if connection.get("host"):
            connection.setdefault("username", address_)
        created = self.mailboxes.register(
            workspace_id, owner_id, provider, address_, aliases, connection, status=AUTHORIZING
        )
        mailbox = self.app.load(Mailbox, created.id)
        return Authorization(created.id, created.position, self._authorization_url(oauth, mailbox))

    def _start_without_address(
        self, oauth: OAuthProvider, workspace_id: str, owner_id: str, provider: str, aliases: list[str],
        connection: dict[str, Any],
    ) -> Authorization:  # fmt: skip
        workspace = self.app.load(Workspace, workspace_id)
        workspace.member(owner_id)
        workspace.check_mailbox_allowed(owner_id)
        mailbox = Mailbox(
            workspace_id=workspace_id, owner_id=owner_id, provider=provider, address="",
            aliases=list(dict.fromkeys(normalized(a) for a in aliases)), connection=connection,
            status=AUTHORIZING,
        )  # fmt: skip
        position = self.app.save_all(mailbox)
        return Authorization(str(mailbox.id), position, self._authorization_url(oauth, mailbox))

    def reconnect(self, workspace_id: str, mailbox_id: str, actor_id: str) -> Authorization:
        """A new authorization for an OAuth mailbox (after `reconnect needed`); its cursors stay,
        so the sync resumes where it stopped."""
        mailbox = self.app.load(Mailbox, mailbox_id, workspace_id)
        require_owner(mailbox.owner_id, actor_id)
        if mailbox.provider not in OAUTH_PROVIDERS:
            raise RuleViolationError(f"a {mailbox.provider} mailbox is not connected by OAuth")
        if mailbox.status == REMOVED:
            raise RuleViolationError("the mailbox was removed")
        url = self._authorization_url(self.provider(mailbox.provider), mailbox)
        return Authorization(mailbox_id, self.app.position(), url)

    def _authorization_url(self, oauth: OAuthProvider, mailbox: Mailbox) -> str:
        verifier = new_verifier()
        pending = PendingAuthorization(
            str(mailbox.id), mailbox.workspace_id, mailbox.owner_id, mailbox.provider, verifier
        )
        state = self.states.issue(pending, self.clock() + STATE_SECONDS)
        return oauth.authorization_url(
            state=state,
            code_challenge=code_challenge(verifier),
            redirect_uri=self.redirect_uri,
            login_hint=mailbox.address or None,
        )

    def callback(self, code: str, state: str, refused: bool = False) -> CallbackOutcome:
        """The provider sent the owner back: take the state (once), exchange the code, check the
        account, seal the grant, and start the historical sync. A refusal (the owner declined:
        `refused`, or the provider's) sets `error`."""
        pending = self.states.take(state, self.clock()) if state else None
        if pending is None:
            raise InvalidStateError("this authorization link is unknown, used or expired; connect again")
        mailbox = self.app.load(Mailbox, pending.mailbox_id, pending.workspace_id)
        if mailbox.status == REMOVED or mailbox.owner_id != pending.member_id:
            raise InvalidStateError("this authorization is for a mailbox that was removed")
        oauth = self.provider(pending.provider)
        name = PROVIDER_NAMES.get(pending.provider, pending.provider)
        if refused:
            return self._finish(
                mailbox, ERROR, f"the consent at {name} was not given; reconnect to try again"
            )
        try:
            grant = oauth.exchange(
                code=code, code_verifier=pending.code_verifier, redirect_uri=self.redirect_uri
            )
        except MailUnavailableError:
            log.warning("mailbox %s: the %s token endpoint could not be reached", mailbox.id, name)
            return self._finish(mailbox, ERROR, f"{name} could not be reached; reconnect to try again")
        except ReconnectNeeded:
            return self._finish(mailbox, ERROR, f"{name} refused the authorization; reconnect to try again")
        except MailServerError as error:
            return self._finish(mailbox, ERROR, str(error))
        signed_in = _normalized_or_none(grant.address)
        if signed_in is None or (mailbox.address and signed_in not in mailbox.addresses):
            shown = signed_in or "an account without an address"
            reason = f"signed in as {shown}, not {mailbox.address}: reconnect with {mailbox.address}"
            return self._finish(mailbox, ERROR, reason)
        self.keystore.put(str(mailbox.id), grant_secret(pending.provider, grant))
        try:
            outcome = self._finish(mailbox, ACTIVE, "", proven=signed_in)
        except (RuleViolationError, ConflictError) as error:  # registered now: the plan, another's address
            self.keystore.delete(str(mailbox.id))
            return self._finish(mailbox, ERROR, str(error))
        self.mailboxes.start_sync(str(mailbox.id))  # the full historical sync (or resumes from its cursors)
        return outcome

    def _finish(
        self, mailbox: Mailbox, status: str, reason: str, proven: str | None = None
    ) -> CallbackOutcome:
        """The status, and (`proven`: the address the provider signed in) the addresses that sign-in
        proved, as a login to the provider's mail host proves them (domain/ownership.py)."""
        mailbox = self.app.load(Mailbox, mailbox.id)  # the latest version: a sync may have saved meanwhile
        mailbox.set_status(status, reason)
        changed: list[Aggregate] = [mailbox]
        if proven is not None:
            login = Login(PROVIDER_HOSTS.get(mailbox.provider, mailbox.provider), proven)
            hosted = self.app.catalog.verifies_domain_owners(login.host)
            workspace = self.app.load(Workspace, mailbox.workspace_id)
            free_mail = self.app.catalog.is_free_mail(proven.rpartition("@")[2])
            if not mailbox.address:  # connected without one: the signed-in account's, registered now
                mailbox.set_address(proven)
                addresses = list(dict.fromkeys(mailbox.addresses))
                found = [a for a in addresses if proven_by_login(a, login, hosted)]
                workspace.register_mailbox(str(mailbox.id), mailbox.owner_id, mailbox.provider, addresses, found,
                                           free_mail)  # fmt: skip
            else:
                found = [a for a in mailbox.addresses if proven_by_login(a, login, hosted)]
                workspace.prove_mailbox_addresses(str(mailbox.id), found, free_mail)
            changed.append(workspace)
        position = self.app.save_all(*changed)
        return CallbackOutcome(str(mailbox.id), mailbox.workspace_id, status, reason, position)


def grant_secret(provider: str, grant: OAuthGrant) -> dict[str, str]:
    """What the KeyStore seals for an OAuth mailbox."""
    return {
        "provider": provider,
        "address": grant.address,
        "grant": grant.secret,
        "access_token": grant.access_token,
        "expires_at": repr(grant.expires_at),
    }


def _normalized_or_none(value: str) -> str | None:
    try:
        return normalized(value)
    except DomainError:
        return None


class OAuthTokens:
    """The TokenSource port for OAuth mailboxes: the sealed access token while it has more than
    REFRESH_MARGIN left, else a refresh (sealed again). A refused refresh sets the mailbox
    `error` "reconnect needed" (by the sync that asked) and raises ReconnectNeeded."""

    def __init__(
        self,
        keystore: KeyStore,
        providers: Mapping[str, OAuthProvider],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keystore = keystore
        self.providers = providers
        self.clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._refreshed: dict[str, float] = {}  # when this process last refreshed each mailbox's token

    def access_token(self, mailbox_id: str, force: bool = False) -> str:
        with self._lock(mailbox_id):
            stored = self.keystore.get(mailbox_id)
            if not stored or "grant" not in stored:
                raise ReconnectNeeded()
            expires_at = float(stored.get("expires_at") or 0)
            just_refreshed = self.clock() - self._refreshed.get(mailbox_id, -JUST_REFRESHED) < JUST_REFRESHED
            if (not force or just_refreshed) and expires_at - self.clock() > REFRESH_MARGIN:
                return stored["access_token"]  # (a 401 on requests sent before a refresh: refreshed once)
            provider = self.providers.get(stored["provider"])
            if provider is None:
                raise MailServerError(f"{stored['provider']} is not configured on this server")
            old = OAuthGrant(stored["address"], stored["grant"], stored["access_token"], expires_at)
            grant = provider.refresh(old)
            self.keystore.put(mailbox_id, grant_secret(stored["provider"], grant))
            self._refreshed[mailbox_id] = self.clock()
            return grant.access_token

    def _lock(self, mailbox_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(mailbox_id, threading.Lock())
