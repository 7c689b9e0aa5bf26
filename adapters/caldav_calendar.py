"""CalDAV calendars through the `caldav` library: the principal and every calendar of it
discovered from the URL given (which may be the server's root), changes by sync-token
(RFC 6578), or by ctag and etags when the server has no sync-token.

The host is checked once against the deployment's outbound rules (adapters/netcheck.py)
before anything is sent; plain http is allowed to a loopback host only. DNS-based service
discovery (RFC 6764) is off: it could lead a user-typed name to another host."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import caldav
from caldav.elements import dav
from caldav.elements.base import ValuedBaseElement
from caldav.lib import error as caldav_error

from adapters.ical import MalformedCalendarError, parse_calendar
from adapters.netcheck import HostRefusedError, Resolver, check_host
from application.ports import (
    CalendarAuthError,
    CalendarChanges,
    CalendarResource,
    CalendarServerError,
)
from domain.calendar import resource_key

log = logging.getLogger(__name__)

MULTIGET_SIZE = 200  # resources asked for in one calendar-multiget REPORT
DEFAULT_PAST_DAYS = 730
DEFAULT_FUTURE_DAYS = 365


class GetCTag(ValuedBaseElement):
    tag = "{http://calendarserver.org/ns/}getctag"


def _path(url: Any) -> str:
    return unquote(urlsplit(str(url)).path)


def check_url(url: str, allow_private: bool, resolver: Resolver) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a bad port or IPv6 literal
        raise CalendarServerError("the calendar URL is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CalendarServerError("the calendar URL must be an http(s) URL with a host")
    try:
        check_host(
            parts.hostname,
            port,
            allow_private=allow_private,
            plaintext=parts.scheme == "http",
            resolver=resolver,
        )
    except HostRefusedError as refused:
        raise CalendarServerError(str(refused)) from None


class CaldavServer:
    """One logged-in CalDAV account (the CalendarServer port)."""

    def __init__(self, client: caldav.DAVClient, window: tuple[datetime, datetime]) -> None:
        self.client = client
        self.window = window
        self._calendars: dict[str, Any] = {}

    def collections(self) -> list[str]:
        """Every calendar (collection path) of the principal the URL leads to."""
        try:
            principal = self.client.principal()
            calendars = principal.calendars()
        except caldav_error.AuthorizationError:
            raise CalendarAuthError("the server refused the username or password") from None
        except (caldav_error.DAVError, OSError, ValueError) as failure:
            raise CalendarServerError(f"no calendars found ({type(failure).__name__})") from None
        except Exception as failure:  # noqa: BLE001 - niquests' connection errors and the like
            raise CalendarServerError(
                f"the calendar server cannot be reached ({type(failure).__name__})"
            ) from None
        self._calendars = {_path(c.url): c for c in calendars}
        return sorted(self._calendars)

    def changes(self, collection: str, cursor: Mapping[str, Any] | None) -> CalendarChanges:
        calendar = self._calendars.get(collection)
        if calendar is None:
            raise CalendarServerError(f"calendar {collection} is gone")
        cursor = cursor or {}
        try:
            return self._by_sync_token(calendar, cursor)
        except (caldav_error.ReportError, caldav_error.DAVError) as failure:
            if isinstance(failure, caldav_error.AuthorizationError) and "sync" not in str(failure).lower():
                raise CalendarAuthError("the server refused the username or password") from None
            log.info("no sync-token for %s (%s): ctag and etags instead", collection, type(failure).__name__)
        try:
            return self._by_etags(calendar, cursor)
        except caldav_error.DAVError as failure:
            raise CalendarServerError(
                f"calendar {collection} cannot be listed ({type(failure).__name__})"
            ) from None

    def _by_sync_token(self, calendar: Any, cursor: Mapping[str, Any]) -> CalendarChanges:
        token = cursor.get("sync_token")
        found = calendar.get_objects_by_sync_token(
            sync_token=token, load_objects=False, disable_fallback=True
        )
        deleted = {_path(u) for u in found.deleted_urls}
        listed = [_path(o.url) for o in found]
        changed = [h for h in dict.fromkeys(listed) if h not in deleted]
        # A first listing may name deleted resources without data (Radicale): they are skipped.
        resources, missing = self._load(calendar, changed)
        gone = sorted(self._key(calendar, h) for h in deleted | missing) if token else []
        return CalendarChanges(resources, gone, {"sync_token": str(found.sync_token)}, full=not token)

    @staticmethod
    def _key(calendar: Any, href: str) -> str:
        return resource_key(_path(calendar.url), href)

    def _by_etags(self, calendar: Any, cursor: Mapping[str, Any]) -> CalendarChanges:
        ctag_found = calendar.get_properties([GetCTag()])
        ctag = str(ctag_found.get(GetCTag.tag) or "")
        known: dict[str, str] = dict(cursor.get("etags") or {})
        if ctag and ctag == cursor.get("ctag"):
            return CalendarChanges([], [], dict(cursor), full=False)
        listing = calendar.get_properties([dav.GetEtag()], depth=1)
        here = _path(calendar.url)
        etags = {
            _path(href): str(props.get(dav.GetEtag.tag) or "")
            for href, props in listing.items()
            if _path(href).rstrip("/") != here.rstrip("/")
        }
        keyed = {self._key(calendar, h): e for h, e in etags.items()}  # the cursor keeps no path
        changed = [h for h, e in sorted(etags.items()) if known.get(self._key(calendar, h)) != e]
        resources, missing = self._load(calendar, changed)
        lost = {self._key(calendar, h) for h in missing}
        gone = sorted((set(known) - set(keyed)) | lost)
        kept = {k: e for k, e in keyed.items() if k not in lost}
        return CalendarChanges(resources, gone, {"ctag": ctag, "etags": kept}, full=False)

    def _load(self, calendar: Any, hrefs: list[str]) -> tuple[list[CalendarResource], set[str]]:
        """The resources' data by calendar-multiget, parsed; the hrefs the server had no data for."""
        resources: list[CalendarResource] = []
        seen: set[str] = set()
        for at in range(0, len(hrefs), MULTIGET_SIZE):
            chunk = hrefs[at : at + MULTIGET_SIZE]
            urls = [calendar.url.join(h) for h in chunk]
            for url, data, _tags in calendar._multiget(urls, raise_notfound=False):
                href = _path(calendar.url.join(str(url)))
                if not data:
                    continue
                seen.add(href)
                key = self._key(calendar, href)
                try:
                    resources.append(CalendarResource(key, parse_calendar(data, self.window)))
                except MalformedCalendarError as malformed:
                    resources.append(CalendarResource(key, None, str(malformed)))
        return resources, set(hrefs) - seen

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            log.debug("closing the CalDAV client failed", exc_info=True)


class CaldavConnector:
    """The CalendarConnector port for CalDAV, with this deployment's outbound rules."""

    def __init__(
        self,
        allow_private: bool,
        resolver: Resolver,
        timeout: float = 60.0,
        past_days: int = DEFAULT_PAST_DAYS,
        future_days: int = DEFAULT_FUTURE_DAYS,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.timeout = timeout
        self.past_days = past_days
        self.future_days = future_days

    def window(self) -> tuple[datetime, datetime]:
        now = datetime.now(UTC)
        return now - timedelta(days=self.past_days), now + timedelta(days=self.future_days)

    def connect(self, connection: Mapping[str, Any], secret: Mapping[str, str]) -> CaldavServer:
        url = str(connection.get("url") or "")
        check_url(url, self.allow_private, self.resolver)
        client = caldav.DAVClient(
            url=url,
            username=str(connection.get("username") or ""),
            password=secret.get("password", ""),
            timeout=int(self.timeout),
            enable_rfc6764=False,
            require_tls=urlsplit(url).scheme == "https",
        )
        return CaldavServer(client, self.window())
