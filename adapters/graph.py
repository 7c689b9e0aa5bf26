"""Microsoft Graph: the MailApi port (delta queries of Inbox and Sent Items, raw MIME), and the
`/me` look-up the OAuth callback makes.

Every request carries `Prefer: IdType="ImmutableId"` (the immutable id is the copy's identity),
a fresh access token (refreshed once on a 401), and honours `Retry-After` on 429/503/504 with a
bounded backoff: after THROTTLE_ATTEMPTS the pass stops with MailUnavailableError and the
worker's own backoff takes over, so a sync never spins. What Graph says is logged here; what
the owner reads is mailtrail's words."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from adapters.https import Answer, Http, TransportError
from adapters.mime import parse_message
from application.ports import (
    AccessToken,
    DeltaPage,
    DeltaResetError,
    Item,
    MailAuthError,
    MailServerError,
    MailUnavailableError,
    Rejected,
)
from domain.message import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

PREFER_IMMUTABLE = 'IdType="ImmutableId"'
PAGE_SIZE = 100
THROTTLE_ATTEMPTS = 6
MAX_WAIT = 60.0  # the longest Retry-After honoured in one wait
TIMEOUT = 60.0
FETCHERS = 4  # raw messages downloaded at once (Graph allows 4 concurrent requests per mailbox)
THROTTLED = (429, 503, 504)
NOT_HOSTED = (
    "MailboxNotEnabledForRESTAPI",
    "ErrorMailboxNotEnabledForRESTAPI",
    "MailboxNotHostedInExchangeOnline",
)
RESET_CODES = ("syncStateNotFound", "SyncStateNotFound", "syncStateInvalid", "resyncRequired")
SHARED_MAILBOX = (
    "this Microsoft account has no mailbox of its own in Microsoft 365 (a shared mailbox, or one not "
    "hosted in Exchange Online): connect the user's own mailbox"
)


def error_code(response: Answer) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""


class GraphHttp:
    """GETs against Graph with the token, throttling and error rules above."""

    def __init__(
        self,
        base_url: str,
        session: Http,
        access_token: AccessToken,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.access_token = access_token
        self.sleep = sleep
        self.page_size = page_size

    def url(self, path: str) -> str:
        return path if path.startswith(("https://", "http://")) else self.base_url + path

    def get(self, path: str, *, page: bool = False, stream: bool = False) -> Answer:
        prefer = [PREFER_IMMUTABLE] + ([f"odata.maxpagesize={self.page_size}"] if page else [])
        refreshed = False
        for attempt in range(1, THROTTLE_ATTEMPTS + 1):
            headers = {"Authorization": f"Bearer {self.access_token(refreshed)}", "Prefer": ", ".join(prefer)}
            try:
                response = self.session.request("GET", self.url(path), headers=headers, timeout=TIMEOUT,
                                                stream=stream)  # fmt: skip
            except TransportError as error:
                log.warning("graph: %s failed: %s", path.split("?")[0], error)
                raise MailUnavailableError("Microsoft Graph could not be reached; will retry") from None
            if response.status_code == 401 and not refreshed:
                refreshed = True  # the token expired early, or was revoked: refresh once
                response.close()
                continue
            if response.status_code in THROTTLED and attempt < THROTTLE_ATTEMPTS:
                wait = retry_after(response, attempt)
                log.info(
                    "graph: %s answered %d, waiting %.1f s", path.split("?")[0], response.status_code, wait
                )
                response.close()
                self.sleep(wait)
                continue
            if response.status_code in THROTTLED:
                raise MailUnavailableError("Microsoft Graph is throttling this mailbox; will retry")
            return response
        raise MailUnavailableError("Microsoft Graph kept refusing the token")  # pragma: no cover

    def send(self, method: str, path: str, body: dict[str, Any] | None) -> Answer:
        """A POST, PATCH or DELETE (subscriptions), with the same token and throttling rules."""
        refreshed = False
        for attempt in range(1, THROTTLE_ATTEMPTS + 1):
            headers = {"Authorization": f"Bearer {self.access_token(refreshed)}"}
            try:
                response = self.session.request(
                    method, self.url(path), headers=headers, json_body=body, timeout=TIMEOUT
                )
            except TransportError as error:
                log.warning("graph: %s %s failed: %s", method, path, error)
                raise MailUnavailableError("Microsoft Graph could not be reached; will retry") from None
            if response.status_code == 401 and not refreshed:
                refreshed = True
                continue
            if response.status_code in THROTTLED and attempt < THROTTLE_ATTEMPTS:
                self.sleep(retry_after(response, attempt))
                continue
            return response
        raise MailUnavailableError("Microsoft Graph is throttling this mailbox; will retry")

    def json(self, path: str, *, page: bool = False) -> dict[str, Any]:
        response = self.get(path, page=page)
        self.check(response)
        body: dict[str, Any] = response.json()
        return body

    @staticmethod
    def check(response: Answer) -> None:
        if response.ok:
            return
        code = error_code(response)
        log.warning("graph: %s answered %d %s", response.url.split("?")[0], response.status_code, code)
        if code in NOT_HOSTED:
            raise MailServerError(SHARED_MAILBOX)
        if response.status_code in (401, 403):
            raise MailAuthError("Microsoft refused access to the mailbox")
        if response.status_code >= 500:
            raise MailUnavailableError(f"Microsoft Graph answered {response.status_code}; will retry")
        raise MailServerError(f"Microsoft Graph answered {response.status_code}")


def retry_after(response: Answer, attempt: int) -> float:
    """Retry-After in seconds when given (bounded by MAX_WAIT), else an exponential backoff."""
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        seconds = min(2.0**attempt, MAX_WAIT)
    return max(0.0, min(seconds, MAX_WAIT))


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def mailbox_address(http: GraphHttp) -> str:
    """The signed-in user's address (`mail`, else `userPrincipalName`), once Graph confirms the
    user has a mailbox of their own there (shared or not hosted: MailServerError)."""
    me = http.json("/me?$select=mail,userPrincipalName")
    address = str(me.get("mail") or me.get("userPrincipalName") or "")
    http.json("/me/mailFolders/inbox?$select=id")  # a shared / not hosted mailbox answers 404 here
    return address


class GraphMailApi:
    """The MailApi port over Graph."""

    def __init__(self, http: GraphHttp, parse: Callable[[bytes], Any] = parse_message) -> None:
        self.http = http
        self.parse = parse
        self._pool = ThreadPoolExecutor(FETCHERS, thread_name_prefix="graph-fetch")

    def delta(self, folder: str, link: str | None) -> DeltaPage:
        path = link or f"/me/mailFolders/{quote(folder)}/messages/delta?$select=id"
        response = self.http.get(path, page=True)
        if response.status_code == 410 or error_code(response) in RESET_CODES:
            response.close()
            raise DeltaResetError(folder)
        self.http.check(response)
        body = response.json()
        changed, removed = [], []
        for entry in body.get("value", []):
            (removed if "@removed" in entry else changed).append(str(entry["id"]))
        return DeltaPage(changed, removed, body.get("@odata.nextLink"), body.get("@odata.deltaLink"))

    def messages(self, ids: Sequence[str]) -> Iterator[tuple[str, Item]]:
        for message_id, item in zip(ids, self._pool.map(self._message, ids), strict=True):
            if item is not None:
                yield message_id, item

    def _message(self, message_id: str) -> Item | None:
        response = self.http.get(f"/me/messages/{quote(message_id, safe='')}/$value", stream=True)
        if response.status_code == 404:
            response.close()
            return None  # deleted since the delta page: its @removed comes later
        self.http.check(response)
        raw = bytearray()
        for chunk in response.iter_content(256 * 1024):  # read to the end: the connection is reused
            raw += chunk
            if len(raw) > MAX_MESSAGE_BYTES:
                response.close()
                return Rejected(f"graph:{message_id}", "too_large")
        response.close()  # back to the pool
        return self.parse(bytes(raw))  # type: ignore[no-any-return]

    def subscribe(self, folder: str, notification_url: str, client_state: str, expires_at: float) -> str:
        body = {
            "changeType": "created,updated,deleted",
            "notificationUrl": notification_url,
            "resource": f"/me/mailFolders('{folder}')/messages",
            "expirationDateTime": iso(expires_at),
            "clientState": client_state,
        }
        response = self.http.send("POST", "/subscriptions", body)
        if not response.ok:
            log.warning("graph: a subscription on %s was refused: %d %s", folder, response.status_code,
                        error_code(response))  # fmt: skip
            raise MailServerError("Microsoft Graph refused the change-notification subscription")
        return str(response.json()["id"])

    def renew(self, subscription_id: str, expires_at: float) -> None:
        response = self.http.send(
            "PATCH", f"/subscriptions/{quote(subscription_id)}", {"expirationDateTime": iso(expires_at)}
        )
        if not response.ok:
            raise MailServerError("Microsoft Graph refused to renew the change-notification subscription")

    def unsubscribe(self, notification_url: str) -> None:
        listed = self.http.json("/subscriptions")
        for subscription in listed.get("value", []):
            if subscription.get("notificationUrl") == notification_url:
                self.http.send("DELETE", f"/subscriptions/{quote(str(subscription['id']))}", None)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class GraphConnector:
    """The MailApiConnector port: a Graph session per sync pass."""

    def __init__(self, base_url: str, session: Http, page_size: int = PAGE_SIZE,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        self.base_url = base_url
        self.session = session
        self.page_size = page_size
        self.sleep = sleep

    def connect(self, access_token: AccessToken) -> GraphMailApi:
        return GraphMailApi(GraphHttp(self.base_url, self.session, access_token, self.sleep, self.page_size))
