"""A local HTTPS fake of the Microsoft identity platform and of Microsoft Graph's mail API.

It speaks the real protocols as msal and the Graph adapter use them, so production code runs
unchanged, pointed here by MAILTRAIL_MICROSOFT_AUTHORITY and MAILTRAIL_GRAPH_URL:

* identity: `/{tenant}/v2.0/.well-known/openid-configuration`, `/{tenant}/oauth2/v2.0/authorize`
  (the "user" signs in as `signed_in` and consents: a 302 to the redirect URI with a code), and
  `/{tenant}/oauth2/v2.0/token` (authorization_code with PKCE S256 checked, refresh_token;
  `invalid_grant` for a bad code, verifier or a revoked consent).
* Graph: `/v1.0/me`, `/v1.0/me/mailFolders/{folder}`, `.../messages/delta` (paged by
  `odata.maxpagesize`, `@odata.nextLink`, `@odata.deltaLink`, `@removed`; 410 for an expired
  delta token), `/v1.0/me/messages/{id}/$value`; 401 for an expired token; `throttle(n)` answers
  the next n requests 429 with Retry-After.

TLS: a throw-away CA (tests/support/tls.py) for "localhost"; point SSL_CERT_FILE at `ca`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from tests.support.tls import make_certificates

TENANT = "organizations"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "fake-client-secret"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Account:
    """One user of the fake tenant and their mailbox."""

    address: str
    oid: str = field(default_factory=lambda: secrets.token_hex(8))
    shared: bool = False  # Graph answers MailboxNotEnabledForRESTAPI for its mail
    upn: str | None = None
    folders: dict[str, list[str]] = field(default_factory=lambda: {"inbox": [], "sentitems": []})
    raw: dict[str, bytes] = field(default_factory=dict)
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (folder, "add"|"remove", id)
    oldest_delta: int = 0  # delta tokens before this log position answer 410


@dataclass
class Fake:
    base: str
    ca: Path
    accounts: dict[str, Account] = field(default_factory=dict)
    signed_in: str = ""  # who signs in at /authorize
    token_seconds: int = 3600
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (address, expires)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token -> address
    revoked: set[str] = field(default_factory=set)  # addresses whose consent was revoked
    throttled: int = 0
    retry_after: str = "1"
    throttle_status: int = 429
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    raw_fetches: int = 0
    expire_at_fetch: int | None = None  # every access token expires at this $value download
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # How Graph reaches the notification URL: (url, JSON body or None, query) -> (status, text).
    # Tests hand it their TestClient; None: subscriptions are refused (the URL is unreachable).
    poster: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def authority(self) -> str:
        return f"{self.base}/{TENANT}"

    @property
    def graph_url(self) -> str:
        return f"{self.base}/v1.0"

    def account(self, address: str, **options: Any) -> Account:
        self.accounts[address] = Account(address, **options)
        self.signed_in = self.signed_in or address
        return self.accounts[address]

    def deliver(self, address: str, folder: str, raw: bytes) -> str:
        account = self.accounts[address]
        message_id = "AAkALg" + _b64(secrets.token_bytes(24))  # immutable ids look like this
        with self.lock:
            account.folders[folder].append(message_id)
            account.raw[message_id] = raw
            account.log.append((folder, "add", message_id))
        return message_id

    def remove(self, address: str, message_id: str) -> None:
        account = self.accounts[address]
        with self.lock:
            for folder, ids in account.folders.items():
                if message_id in ids:
                    ids.remove(message_id)
                    account.log.append((folder, "remove", message_id))

    def move(self, address: str, message_id: str, to: str) -> None:
        account = self.accounts[address]
        with self.lock:
            for folder, ids in account.folders.items():
                if message_id in ids:
                    ids.remove(message_id)
                    account.log.append((folder, "remove", message_id))
            account.folders[to].append(message_id)
            account.log.append((to, "add", message_id))

    def expire_delta_tokens(self, address: str) -> None:
        account = self.accounts[address]
        account.oldest_delta = len(account.log) + 1

    def throttle(self, count: int, retry_after: str = "1", status: int = 429) -> None:
        """The next `count` Graph requests answer `status` (429, 503, 504) with Retry-After."""
        self.throttled, self.retry_after, self.throttle_status = count, retry_after, status

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access = {t: (a, 0.0) for t, (a, _) in self.access.items()}

    def authorize(self, url: str) -> str:
        """The user's browser at the authorization URL: the redirect it is sent back with."""
        import requests

        response = requests.get(url, allow_redirects=False, verify=str(self.ca), timeout=10)
        assert response.status_code == 302, response.text
        return str(response.headers["Location"])

    # identity -------------------------------------------------------------------------
    def _openid(self) -> dict[str, Any]:
        base = self.authority
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("client_id") != CLIENT_ID or query.get("code_challenge_method") != "S256":
            return 400, {}, b"bad authorization request"
        scopes = set(query.get("scope", "").split())
        if not {"Mail.Read", "User.Read", "offline_access"} <= {s.rsplit("/", 1)[-1] for s in scopes}:
            return 400, {}, b"missing scopes"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "address": self.signed_in,
            "challenge": query["code_challenge"],
            "redirect_uri": query["redirect_uri"],
        }
        location = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
        return 302, {"Location": location}, b""

    def _grant(self, address: str) -> dict[str, Any]:
        account = self.accounts[address]
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        with self.lock:
            self.access[access] = (address, time.time() + self.token_seconds)
            self.refresh_tokens[refresh] = address
        now = int(time.time())
        claims = {"iss": f"{self.authority}/v2.0", "aud": CLIENT_ID, "iat": now, "nbf": now, "exp": now + 3600,
                  "oid": account.oid, "tid": "tenant-1", "preferred_username": account.upn or address,
                  "name": address.split("@")[0]}  # fmt: skip
        id_token = ".".join([_b64(b'{"alg":"none","typ":"JWT"}'), _b64(json.dumps(claims).encode()), ""])
        client_info = _b64(json.dumps({"uid": account.oid, "utid": "tenant-1"}).encode())
        return {"token_type": "Bearer", "scope": "Mail.Read User.Read openid profile offline_access",
                "expires_in": self.token_seconds, "ext_expires_in": self.token_seconds, "access_token": access,
                "refresh_token": refresh, "id_token": id_token, "client_info": client_info}  # fmt: skip

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: bad secret"}
        refused = {"error": "invalid_grant", "error_description": "AADSTS70000: the grant is invalid"}
        if form.get("grant_type") == "authorization_code":
            pending = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            if pending is None or pending["redirect_uri"] != form.get("redirect_uri"):
                return 400, refused
            if _b64(hashlib.sha256(verifier.encode()).digest()) != pending["challenge"]:
                return 400, {**refused, "error_description": "AADSTS501481: the code verifier does not match"}
            return 200, self._grant(pending["address"])
        if form.get("grant_type") == "refresh_token":
            address = self.refresh_tokens.get(form.get("refresh_token", ""))
            if address is None or address in self.revoked:
                return 400, {
                    **refused,
                    "error_description": "AADSTS65001: consent revoked",
                    "suberror": "consent_required",
                }
            return 200, self._grant(address)
        return 400, {"error": "unsupported_grant_type"}

    # change notifications -------------------------------------------------------------
    def _subscription_request(
        self, method: str, path: str, body: dict[str, Any], headers: Any
    ) -> tuple[int, dict[str, str], bytes]:
        who = self.access.get(headers.get("Authorization", "").removeprefix("Bearer "))
        if who is None or who[1] < time.time():
            return _json(401, {"error": {"code": "InvalidAuthenticationToken", "message": "token expired"}})
        parts = path.split("/")
        if method == "GET" and path == "/subscriptions":
            mine = [s for s in self.subscriptions.values() if s["address"] == who[0]]
            return _json(200, {"value": [{k: v for k, v in s.items() if k != "address"} for s in mine]})
        if method == "POST" and path == "/subscriptions":
            token = secrets.token_urlsafe(12)
            started = time.monotonic()
            answer = (
                self.poster(body["notificationUrl"], None, {"validationToken": token})
                if self.poster
                else None
            )
            if answer != (200, token) or time.monotonic() - started > 10:
                return _json(
                    400,
                    {
                        "error": {
                            "code": "ValidationError",
                            "message": "Subscription validation request failed.",
                        }
                    },
                )
            if len(body.get("clientState", "")) > 128 or body.get("changeType") != "created,updated,deleted":
                return _json(400, {"error": {"code": "InvalidRequest", "message": "bad subscription"}})
            subscription = {**body, "id": secrets.token_hex(8), "address": who[0]}
            self.subscriptions[subscription["id"]] = subscription
            return _json(201, {k: v for k, v in subscription.items() if k != "address"})
        if len(parts) == 3 and parts[2] in self.subscriptions:
            if method == "PATCH":
                self.subscriptions[parts[2]]["expirationDateTime"] = body["expirationDateTime"]
                return _json(200, self.subscriptions[parts[2]])
            if method == "DELETE":
                del self.subscriptions[parts[2]]
                return 204, {}, b""
        return _json(404, {"error": {"code": "ResourceNotFound", "message": path}})

    def notify(self, address: str, folder: str, client_state: str | None = None) -> list[int]:
        """Graph posts a `created` notification to each subscription on the folder; the statuses."""
        statuses = []
        for subscription in list(self.subscriptions.values()):
            if subscription["address"] == address and f"('{folder}')" in subscription["resource"]:
                value = {"subscriptionId": subscription["id"], "changeType": "created",
                         "clientState": client_state or subscription["clientState"],
                         "resource": f"Users/{self.accounts[address].oid}/Messages/AAk", "tenantId": "tenant-1"}  # fmt: skip
                statuses.append(self.poster(subscription["notificationUrl"], {"value": [value]}, {})[0])
        return statuses

    # graph ----------------------------------------------------------------------------
    def _graph(self, path: str, query: dict[str, str], headers: Any) -> tuple[int, dict[str, str], bytes]:
        bearer = headers.get("Authorization", "").removeprefix("Bearer ")
        who = self.access.get(bearer)
        if who is None or who[1] < time.time():
            return _json(401, {"error": {"code": "InvalidAuthenticationToken", "message": "token expired"}})
        if self.throttled > 0:
            self.throttled -= 1
            body = {"error": {"code": "TooManyRequests", "message": "throttled"}}
            return (
                self.throttle_status,
                {"Retry-After": self.retry_after, "Content-Type": "application/json"},
                json.dumps(body).encode(),
            )
        account = self.accounts[who[0]]
        if path == "/me":
            return _json(200, {"mail": None if account.upn else account.address,
                               "userPrincipalName": account.upn or account.address})  # fmt: skip
        if account.shared and path.startswith("/me/m"):
            return _json(
                404,
                {
                    "error": {
                        "code": "MailboxNotEnabledForRESTAPI",
                        "message": "REST API is not yet supported for this mailbox.",
                    }
                },
            )
        if 'IdType="ImmutableId"' not in headers.get("Prefer", ""):
            return _json(
                400,
                {
                    "error": {
                        "code": "ErrorInvalidIdMalformed",
                        "message": "this fake serves immutable ids only",
                    }
                },
            )
        parts = path.split("/")
        if len(parts) == 4 and parts[2] == "mailFolders":
            return _json(200, {"id": parts[3]})
        if len(parts) == 6 and parts[2] == "mailFolders" and parts[4:] == ["messages", "delta"]:
            return self._delta(account, parts[3], query, headers)
        if len(parts) == 5 and parts[2] == "messages" and parts[4] == "$value":
            raw = account.raw.get(parts[3])
            if raw is None or not any(parts[3] in ids for ids in account.folders.values()):
                return _json(404, {"error": {"code": "ErrorItemNotFound", "message": "not found"}})
            self.raw_fetches += 1
            if self.raw_fetches == self.expire_at_fetch:
                self.expire_access_tokens()
            return 200, {"Content-Type": "text/plain"}, raw
        return _json(404, {"error": {"code": "ResourceNotFound", "message": path}})

    def _delta(
        self, account: Account, folder: str, query: dict[str, str], headers: Any
    ) -> tuple[int, dict[str, str], bytes]:
        prefer = headers.get("Prefer", "")
        size = 10
        for part in prefer.split(","):
            if part.strip().startswith("odata.maxpagesize="):
                size = int(part.strip().split("=", 1)[1])
        with self.lock:
            if "$deltatoken" in query:
                start, end, offset = int(query["$deltatoken"]), len(account.log), 0
                if start < account.oldest_delta:
                    return _json(
                        410, {"error": {"code": "syncStateNotFound", "message": "the sync state is gone"}}
                    )
            elif "$skiptoken" in query:
                start, end, offset = (int(x) for x in query["$skiptoken"].split("."))
            else:
                start, end, offset = 0, len(account.log), 0
            entries = _net_changes(account, folder, start, end)
        page = entries[offset : offset + size]
        link = f"{self.graph_url}/me/mailFolders/{folder}/messages/delta"
        body: dict[str, Any] = {"value": page}
        if offset + size < len(entries):
            body["@odata.nextLink"] = f"{link}?$skiptoken={start}.{end}.{offset + size}"
        else:
            body["@odata.deltaLink"] = f"{link}?$deltatoken={end}"
        return _json(200, body)


def _net_changes(account: Account, folder: str, start: int, end: int) -> list[dict[str, Any]]:
    """What changed in `folder` between two log positions: present ids, then removed ones."""
    touched: dict[str, str] = {}
    for where, kind, message_id in account.log[start:end]:
        if where == folder:
            touched[message_id] = kind
    entries: list[dict[str, Any]] = []
    for message_id, kind in touched.items():
        if kind == "add":
            entries.append({"@odata.type": "#microsoft.graph.message", "id": message_id})
        elif start > 0:
            entries.append({"id": message_id, "@removed": {"reason": "deleted"}})
    return entries


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _handler(fake: Fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()  # headers and body leave in separate writes: no Nagle delay between them
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            fake.requests.append(("GET", url.path))
            if url.path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
                return self._answer(*_json(200, fake._openid()))
            if url.path == f"/{TENANT}/oauth2/v2.0/authorize":
                return self._answer(*fake._authorize(query))
            if url.path == "/v1.0/subscriptions":
                return self._subscriptions("GET")
            if url.path.startswith("/v1.0/"):
                return self._answer(*fake._graph(url.path.removeprefix("/v1.0"), query, self.headers))
            return self._answer(*_json(404, {"error": "not_found"}))

        def _subscriptions(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.requests.append((method, url.path))
            return self._answer(
                *fake._subscription_request(method, url.path.removeprefix("/v1.0"), body, self.headers)
            )

        def do_PATCH(self) -> None:
            self._subscriptions("PATCH")

        def do_DELETE(self) -> None:
            self._subscriptions("DELETE")

        def do_POST(self) -> None:
            if self.path.startswith("/v1.0/subscriptions"):
                return self._subscriptions("POST")
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            fake.requests.append(("POST", url.path))
            if url.path == f"/{TENANT}/oauth2/v2.0/token":
                status, body = fake._token(form)
                return self._answer(*_json(status, body))
            return self._answer(*_json(404, {"error": "not_found"}))

    return Handler


@contextmanager
def microsoft_fake(directory: Path) -> Iterator[Fake]:
    """The fake on a free loopback port over TLS; yields it with the CA file to trust."""
    tls = make_certificates(directory, ["localhost"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Fake("", tls.ca)))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert, tls.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    fake = Fake(f"https://localhost:{server.server_address[1]}", tls.ca)
    server.RequestHandlerClass = _handler(fake)
    server.daemon_threads = True
    server.block_on_close = False  # keep-alive handlers of pooled client connections are not waited for
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def connect_mailbox(client: Any, headers: dict[str, str], fake: Fake, address: str) -> str:
    """POST /mailboxes for Microsoft 365, the owner's consent at the fake, and the callback:
    the new mailbox's id (active, its first sync started in the background)."""
    response = client.post(
        "/mailboxes", json={"provider": "microsoft365", "address": address}, headers=headers
    )
    assert response.status_code == 201, response.text
    location = urlsplit(fake.authorize(response.json()["authorization_url"]))
    page = client.get(f"{location.path}?{location.query}")
    assert page.status_code == 200 and "connected" in page.text, page.text
    return str(response.json()["id"])


__all__ = ["CLIENT_ID", "CLIENT_SECRET", "Account", "Fake", "connect_mailbox", "microsoft_fake", "quote"]
