"""The OAuthProvider port for Microsoft 365, through msal's ConfidentialClientApplication.

The authority is `MAILTRAIL_MICROSOFT_AUTHORITY` with instance discovery off (no call to
Microsoft's discovery endpoint; national clouds and the test fake work the same). msal reads the
authority's OpenID configuration once per process (its `http_cache`). The grant's secret is
msal's serialized token cache (refresh token included), sealed by the caller; a refresh loads
it into a new application and asks `acquire_token_silent` to refresh."""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any
from urllib.parse import urlencode

import msal
import requests

from adapters.graph import GraphHttp, mailbox_address
from adapters.https import Http
from application.errors import ReconnectNeeded
from application.ports import MailUnavailableError, OAuthGrant

log = logging.getLogger(__name__)

SCOPES = ["Mail.Read", "User.Read"]  # msal adds openid, profile and offline_access itself
REFUSED = (
    "invalid_grant",
    "interaction_required",
    "consent_required",
    "invalid_client",
    "unauthorized_client",
)


class MicrosoftOAuth:
    provider = "microsoft365"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        authority: str,
        graph_url: str,
        session: requests.Session,
        http: Http,
        scopes: list[str] | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.authority = authority
        self.graph_url = graph_url
        self.session = session  # msal's
        self.http = http  # Graph's
        self.scopes = scopes or SCOPES
        self._http_cache: dict[Any, Any] = {}  # the OpenID configuration, read once

    def _app(self, cache: msal.SerializableTokenCache | None = None) -> msal.ConfidentialClientApplication:
        try:
            return msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self.client_secret,
                authority=self.authority,
                instance_discovery=False,
                token_cache=cache,
                http_client=self.session,
                http_cache=self._http_cache,
            )
        except (requests.RequestException, ValueError) as error:
            log.warning("microsoft: the authority %s could not be read: %s", self.authority, error)
            raise MailUnavailableError("Microsoft's sign-in service could not be reached") from None

    def authorization_url(
        self, *, state: str, code_challenge: str, redirect_uri: str, login_hint: str | None
    ) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the flow's state and PKCE are ours
            url: str = self._app().get_authorization_request_url(
                self.scopes, state=state, redirect_uri=redirect_uri, login_hint=login_hint
            )
        # msal builds the URL but drops PKCE parameters it did not make: they are added here
        pkce = urlencode({"code_challenge": code_challenge, "code_challenge_method": "S256"})
        return f"{url}&{pkce}" if "?" in url else f"{url}?{pkce}"

    def exchange(self, *, code: str, code_verifier: str, redirect_uri: str) -> OAuthGrant:
        cache = msal.SerializableTokenCache()
        app = self._app(cache)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # the flow's PKCE is ours, not msal's
                result = app.acquire_token_by_authorization_code(
                    code, self.scopes, redirect_uri=redirect_uri, data={"code_verifier": code_verifier}
                )
        except requests.RequestException as error:
            log.warning("microsoft: the code exchange failed: %s", error)
            raise MailUnavailableError("Microsoft's sign-in service could not be reached") from None
        if "access_token" not in result:
            log.warning("microsoft: the code exchange was refused: %s", result.get("error"))
            raise ReconnectNeeded()
        token = str(result["access_token"])
        graph = GraphHttp(self.graph_url, self.http, lambda force: token)
        address = mailbox_address(graph)
        return OAuthGrant(address, cache.serialize(), token, time.time() + float(result.get("expires_in", 0)))

    def refresh(self, grant: OAuthGrant) -> OAuthGrant:
        cache = msal.SerializableTokenCache()
        cache.deserialize(grant.secret)
        app = self._app(cache)
        accounts = app.get_accounts()
        if not accounts:
            raise ReconnectNeeded()
        try:
            result = app.acquire_token_silent_with_error(self.scopes, account=accounts[0], force_refresh=True)
        except requests.RequestException as error:
            log.warning("microsoft: a token refresh failed: %s", error)
            raise MailUnavailableError("Microsoft's sign-in service could not be reached") from None
        if not result or "access_token" not in result:
            error = (result or {}).get("error", "no refresh token")
            log.warning("microsoft: a token refresh was refused: %s", error)
            if error in REFUSED or not result:
                raise ReconnectNeeded()
            raise MailUnavailableError("Microsoft's sign-in service refused for now; will retry")
        expires_at = time.time() + float(result.get("expires_in", 0))
        secret = cache.serialize() if cache.has_state_changed else grant.secret
        return OAuthGrant(grant.address, secret, str(result["access_token"]), expires_at)
