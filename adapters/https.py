"""Outbound HTTPS to configured endpoints (OAuth providers, Graph): the system trust store plus,
where set, `SSL_CERT_FILE` / `REQUESTS_CA_BUNDLE` (a private CA in tests and in enterprises)."""

from __future__ import annotations

import os
import ssl
from typing import Any

import requests
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
