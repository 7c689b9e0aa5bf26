"""A local HTTP fake of Google's OAuth 2.0 endpoints, speaking their protocol.

- `GET /o/oauth2/v2/auth`: the authorization endpoint. The account "signed in" is
  `fake.signed_in`; the fake checks the client, the registered redirect URI, `response_type=code`,
  the scopes and PKCE (`code_challenge_method=S256`), then redirects (302) to the redirect URI
  with `code` and `state` (or `error=access_denied` when `fake.deny` is set).
- `POST /token`: `authorization_code` (the code once, the same redirect URI, the PKCE verifier
  checked against the challenge, the client secret) and `refresh_token` grants; answers
  `access_token`, `expires_in`, `scope`, `token_type`, an RS256 `id_token` (iss, aud, sub, email,
  email_verified, iat, exp) and, for `access_type=offline` with `prompt=consent`, a `refresh_token`.
  A used, unknown or revoked code or refresh token answers 400 `{"error": "invalid_grant"}`.
- `GET /oauth2/v3/certs`: the JWKS the id tokens are signed with.
- `POST /introspect`: RFC 7662 token introspection (`token=` form field) for Dovecot's `oauth2`
  passdb: `{"active": true, "email", "scope", "exp", "client_id"}` or `{"active": false}`.

Test controls: `expire(token)` ends one access token now, `revoke(email)` withdraws the
account's consent (its refresh tokens and access tokens), `access_lifetime` (seconds)."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://accounts.google.com"
MAIL_SCOPE = "https://mail.google.com/"


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    email: str
    scope: str
    offline: bool


@dataclass
class _Access:
    email: str
    client_id: str
    scope: str
    expires_at: float
    active: bool = True


@dataclass
class GoogleFake:
    client_id: str = "mailtrail-test.apps.googleusercontent.com"
    client_secret: str = "test-client-secret"
    redirect_uris: list[str] = field(default_factory=list)
    signed_in: str = ""  # the Google account in the browser that follows the authorization URL
    deny: bool = False  # the user presses "Cancel" on the consent screen
    access_lifetime: int = 3599
    authorizations: list[dict[str, str]] = field(default_factory=list)  # query of each authorize
    grants: list[str] = field(default_factory=list)  # grant_type of each good token request
    introspections: int = 0
    id_claims: dict[str, Any] = field(default_factory=dict)  # overrides in the next id tokens (tampering)
    forged: bool = False  # sign id tokens with a key that is not in the JWKS

    def __post_init__(self) -> None:
        self._key = _rsa_key("signing")
        self._kid = secrets.token_hex(8)
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, tuple[str, str, str]] = {}  # token -> email, client id, scope
        self._access: dict[str, _Access] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # lifecycle -------------------------------------------------------------------
    def start(self) -> Self:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/o/oauth2/v2/auth"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/oauth2/v3/certs"

    @property
    def introspection_url(self) -> str:
        return f"{self.url}/introspect"

    # controls --------------------------------------------------------------------
    def expire(self, access_token: str) -> None:
        with self._lock:
            self._access[access_token].expires_at = time.time() - 1

    def expire_all(self, email: str) -> None:
        with self._lock:
            for access in self._access.values():
                if access.email == email:
                    access.expires_at = time.time() - 1

    def revoke(self, email: str) -> None:
        """The account owner removes the app's access (myaccount.google.com/permissions)."""
        with self._lock:
            self._refresh = {t: v for t, v in self._refresh.items() if v[0] != email}
            for access in self._access.values():
                if access.email == email:
                    access.active = False

    def active_tokens(self, email: str) -> list[str]:
        now = time.time()
        with self._lock:
            return [
                t for t, a in self._access.items() if a.email == email and a.active and a.expires_at > now
            ]

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**jwk, "kid": self._kid, "use": "sig", "alg": "RS256"}]}

    # the protocol ----------------------------------------------------------------
    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """(status, headers, JSON body when not redirecting)."""
        self.authorizations.append(query)
        client, redirect = query.get("client_id"), query.get("redirect_uri", "")
        if client != self.client_id:
            return 401, {}, {"error": "invalid_client"}
        if redirect not in self.redirect_uris:
            return 400, {}, {"error": "redirect_uri_mismatch"}
        scopes = set(query.get("scope", "").split())
        problem = (
            "unsupported_response_type" if query.get("response_type") != "code"
            else "invalid_scope" if not scopes or not scopes <= {MAIL_SCOPE, "openid", "email", "profile"}
            else "invalid_request" if query.get("code_challenge_method") != "S256" or not query.get("code_challenge")
            else "access_denied" if self.deny or not self.signed_in
            else ""
        )  # fmt: skip
        answer = {"state": query["state"]} if "state" in query else {}
        if problem:
            return 302, {"Location": _with_query(redirect, {"error": problem, **answer})}, {}
        code = secrets.token_urlsafe(24)
        offline = query.get("access_type") == "offline" and query.get("prompt") == "consent"
        with self._lock:
            self._codes[code] = _Code(client, redirect, query["code_challenge"], self.signed_in,
                                      " ".join(sorted(scopes)), offline)  # fmt: skip
        location = _with_query(redirect, {"code": code, **answer, "scope": " ".join(sorted(scopes))})
        return 302, {"Location": location}, {}

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
        client_id, client_secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        kind = form.get("grant_type")
        with self._lock:
            if kind == "authorization_code":
                code = self._codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                if code is None or code.redirect_uri != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant", "error_description": "Malformed auth code."}
                if _s256(verifier) != code.challenge:
                    return 400, {"error": "invalid_grant", "error_description": "Invalid code verifier."}
                email, scope, refresh = code.email, code.scope, None
                if code.offline:
                    refresh = "1//" + secrets.token_urlsafe(32)
                    self._refresh[refresh] = (email, client_id, scope)
            elif kind == "refresh_token":
                held = self._refresh.get(form.get("refresh_token", ""))
                if held is None or held[1] != client_id:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "Token has been expired or revoked.",
                    }
                email, _, scope = held
                refresh = None
            else:
                return 400, {"error": "unsupported_grant_type"}
            access = "ya29." + secrets.token_urlsafe(32)
            self._access[access] = _Access(email, client_id, scope, time.time() + self.access_lifetime)
            self.grants.append(kind)
        body: dict[str, Any] = {"access_token": access, "expires_in": self.access_lifetime, "scope": scope,
                                "token_type": "Bearer"}  # fmt: skip
        if "openid" in scope.split():
            body["id_token"] = self.id_token(email, client_id)
        if refresh is not None:
            body["refresh_token"] = refresh
        return 200, body

    def id_token(self, email: str, audience: str, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "azp": audience, "aud": audience, "email": email, "email_verified": True,
                   "sub": hashlib.sha256(email.encode()).hexdigest()[:21], "iat": now, "exp": now + 3600,
                   **self.id_claims, **claims}  # fmt: skip
        key = _rsa_key("forger") if self.forged else self._key
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": self._kid})

    def introspect(self, token: str) -> dict[str, Any]:
        with self._lock:
            self.introspections += 1
            access = self._access.get(token)
            if access is None or not access.active or access.expires_at <= time.time():
                return {"active": False}
            return {"active": True, "email": access.email, "scope": access.scope, "client_id": access.client_id,
                    "exp": int(access.expires_at), "token_type": "Bearer"}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    owner: GoogleFake

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/o/oauth2/v2/auth":
            status, headers, body = self.owner.authorize(_single(parse_qs(parts.query)))
            self._answer(status, body, headers)
        elif parts.path == "/oauth2/v3/certs":
            self._answer(200, self.owner.jwks())
        else:
            self._answer(404, {"error": "not_found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = _single(parse_qs(self.rfile.read(length).decode()))
        path = urlsplit(self.path).path
        if path == "/token":
            status, body = self.owner.token(form, _basic(self.headers.get("Authorization", "")))
            self._answer(status, body)
        elif path == "/introspect":
            self._answer(200, self.owner.introspect(form.get("token", "")))
        else:
            self._answer(404, {"error": "not_found"})

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body or status != 302 else b""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


@functools.cache
def _rsa_key(purpose: str) -> rsa.RSAPrivateKey:
    """One key per purpose per test process (generating one takes a while)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _single(query: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[0] for k, v in query.items()}


def _basic(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def follow(fake: GoogleFake, authorization_url: str) -> dict[str, str]:
    """The browser: GET the authorization URL at the fake, return the redirect's query."""
    import httpx

    answer = httpx.get(authorization_url, follow_redirects=False)
    assert answer.status_code == 302, (answer.status_code, answer.text)
    return _single(parse_qs(urlsplit(answer.headers["location"]).query))
