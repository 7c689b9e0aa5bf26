"""Google's OAuth 2.0 for Gmail: the OAuthProvider port over Google's authorization and token
endpoints (authorization code with PKCE S256, refresh_token grant), through httpx.

The account's address is the id token's `email`. The id token comes straight from the token
endpoint over TLS (OpenID Connect Core 3.1.3.7), and is checked anyway: its RS256 signature
against Google's JWKS (`jwks_url`, fetched once and again for an unknown key id), `iss`
(accounts.google.com), `aud` (our client id), `exp` and `iat` (with 60 s of leeway), and
`email_verified`. A refresh answered `invalid_grant` (revoked consent, a password change, a
refresh token unused for six months) raises ReconnectNeeded; Google's answers are logged,
never shown (they may quote tokens)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from adapters.https import tls_context
from application.errors import ReconnectNeeded
from application.ports import MailAuthError, MailServerError, MailUnavailableError, OAuthGrant

SCOPES = ("https://mail.google.com/", "openid", "email")
ISSUERS = ("https://accounts.google.com", "accounts.google.com")
DEFAULT_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
LEEWAY = 60  # seconds of clock skew allowed on exp and iat
log = logging.getLogger(__name__)


class GoogleOAuth:
    """Implements OAuthProvider for `gmail`."""

    provider = "gmail"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        auth_url: str,
        token_url: str,
        jwks_url: str = DEFAULT_JWKS_URL,
        timeout: float = 20.0,
        clock: Any = time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.auth_url = auth_url
        self.token_url = token_url
        self.jwks_url = jwks_url
        self.timeout = timeout
        self.clock = clock
        self._keys: dict[str, Any] = {}
        self._lock = threading.Lock()

    def authorization_url(
        self, *, state: str, code_challenge: str, redirect_uri: str, login_hint: str | None
    ) -> str:
        query = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(SCOPES),
            "access_type": "offline",  # a refresh token
            "prompt": "consent",  # ... every time, even when the account consented before
            "include_granted_scopes": "true",
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            **({"login_hint": login_hint} if login_hint else {}),
        }
        return f"{self.auth_url}{'&' if '?' in self.auth_url else '?'}{urlencode(query)}"

    def exchange(self, *, code: str, code_verifier: str, redirect_uri: str) -> OAuthGrant:
        answer = self._token({"grant_type": "authorization_code", "code": code,
                              "code_verifier": code_verifier, "redirect_uri": redirect_uri})  # fmt: skip
        if answer is None:
            raise MailAuthError("Google refused the authorization code")
        refresh = answer.get("refresh_token")
        if not refresh:
            raise MailServerError("Google issued no refresh token (access_type=offline was not honoured)")
        return self._grant(answer, refresh)

    def refresh(self, grant: OAuthGrant) -> OAuthGrant:
        answer = self._token({"grant_type": "refresh_token", "refresh_token": grant.secret})
        if answer is None:
            raise ReconnectNeeded()
        return self._grant(answer, answer.get("refresh_token") or grant.secret, grant.address)

    # --------------------------------------------------------------------------------
    def _token(self, form: dict[str, str]) -> dict[str, Any] | None:
        """The token endpoint's JSON; None for invalid_grant."""
        form = {**form, "client_id": self.client_id, "client_secret": self.client_secret}
        try:
            with httpx.Client(verify=tls_context(), timeout=self.timeout) as client:
                response = client.post(self.token_url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            log.warning("Google token endpoint: %s: %s", type(error).__name__, error)
            raise MailUnavailableError("could not reach Google's token endpoint") from None
        body = _json(response)
        if response.status_code == 200 and isinstance(body.get("access_token"), str):
            return body
        log.warning("Google token endpoint answered %s: %s", response.status_code, body.get("error"))
        if body.get("error") == "invalid_grant":
            return None
        if response.status_code >= 500 or response.status_code == 429:
            raise MailUnavailableError("Google's token endpoint is unavailable, will retry")
        raise MailServerError(
            f"Google's token endpoint refused the request ({body.get('error') or 'no reason'})"
        )

    def _grant(self, answer: dict[str, Any], secret: str, address: str | None = None) -> OAuthGrant:
        expires_at = self.clock() + float(answer.get("expires_in") or 3600)
        if "id_token" in answer:
            address = self._email(str(answer["id_token"]))
        if not address:
            raise MailServerError("Google's answer named no account (no id token)")
        return OAuthGrant(address, secret, str(answer["access_token"]), expires_at)

    def _email(self, id_token: str) -> str:
        try:
            kid = jwt.get_unverified_header(id_token).get("kid", "")
            claims = jwt.decode(
                id_token, self._key(str(kid)), algorithms=["RS256"], audience=self.client_id,
                issuer=ISSUERS, leeway=LEEWAY, options={"require": ["iss", "aud", "exp", "iat", "email"]},
            )  # fmt: skip
        except jwt.PyJWTError as error:
            log.warning("Google id token refused: %s", error)
            raise MailServerError("Google's id token did not verify") from None
        if claims.get("iat", 0) > self.clock() + LEEWAY:
            raise MailServerError("Google's id token did not verify")
        if claims.get("email_verified") is not True:
            raise MailServerError("the Google account's address is not verified")
        return str(claims["email"]).lower()

    def _key(self, kid: str) -> Any:
        with self._lock:
            if kid not in self._keys:  # first use, or Google rotated its keys
                try:
                    with httpx.Client(verify=tls_context(), timeout=self.timeout) as client:
                        jwks = client.get(self.jwks_url).raise_for_status().json()
                    self._keys = {k.key_id: k.key for k in jwt.PyJWKSet.from_dict(jwks).keys if k.key_id}
                except (httpx.HTTPError, ValueError, jwt.PyJWTError) as error:
                    log.warning("Google JWKS: %s: %s", type(error).__name__, error)
                    raise MailUnavailableError("could not read Google's signing keys") from None
            if kid not in self._keys:
                raise jwt.InvalidTokenError(f"no Google signing key {kid!r}")
            return self._keys[kid]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
