"""Outbound HTTPS to configured endpoints (OAuth providers, Graph): the system trust store plus,
where set, `SSL_CERT_FILE` / `REQUESTS_CA_BUNDLE` (a private CA in tests and in enterprises)."""

from __future__ import annotations

import json
import os
import ssl
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    for variable in CA_VARIABLES:
        path = os.environ.get(variable)
        if path and os.path.isfile(path):
            context.load_verify_locations(cafile=path)
    return context


class _TlsAdapter(HTTPAdapter):
    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self._context = context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


def session(pool: int = 10) -> requests.Session:
    """A requests session trusting the system store and the CA files named above."""
    http = requests.Session()
    http.mount("https://", _TlsAdapter(tls_context(), pool_connections=pool, pool_maxsize=pool))
    return http


class TransportError(OSError):
    """The request did not get an answer (connection refused, reset, timed out, TLS refused)."""


class Answer:
    """An HTTP answer (the few things the Graph adapter reads of one)."""

    def __init__(self, url: str, response: urllib3.BaseHTTPResponse) -> None:
        self.url = url
        self._response = response
        self.status_code = response.status
        self.headers = response.headers

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    def json(self) -> Any:
        return json.loads(self._response.data or b"null")

    def iter_content(self, size: int) -> Iterator[bytes]:
        try:
            yield from self._response.stream(size)
        except urllib3.exceptions.HTTPError as error:
            raise TransportError(str(error)) from None

    def close(self) -> None:
        self._response.drain_conn()
        self._response.release_conn()


class Http:
    """Pooled HTTPS straight on urllib3 for the many small requests of a sync (requests costs
    milliseconds a request more: its environment look-ups, hooks and adapters). Trusts what
    `tls_context` trusts; honours `https_proxy` / `no_proxy`, read once."""

    def __init__(self, pool: int = 10) -> None:
        context = tls_context()
        self._direct = urllib3.PoolManager(maxsize=pool, ssl_context=context)
        proxy = urllib.request.getproxies().get("https")
        self._proxy = urllib3.ProxyManager(proxy, maxsize=pool, ssl_context=context) if proxy else None

    def request(self, method: str, url: str, *, headers: dict[str, str], json_body: Any = None,
                stream: bool = False, timeout: float = 60.0) -> Answer:  # fmt: skip
        host = urllib.parse.urlsplit(url).hostname or ""
        manager = (
            self._proxy if self._proxy is not None and not urllib.request.proxy_bypass(host) else self._direct
        )
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers = {**headers, "Content-Type": "application/json"}
        try:
            response = manager.request(method, url, body=body, headers=headers, preload_content=not stream,
                                       timeout=timeout, retries=False, redirect=False)  # fmt: skip
        except urllib3.exceptions.HTTPError as error:
            raise TransportError(str(error)) from None
        return Answer(url, response)
