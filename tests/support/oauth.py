"""OAuth helpers for tests: a grant obtained from the Google fake through the real provider."""

from __future__ import annotations

import base64
import hashlib
import secrets

from adapters.google_oauth import GoogleOAuth
from application.ports import OAuthGrant
from tests.support.google_fake import GoogleFake, follow

REDIRECT = "http://127.0.0.1:8000/oauth/callback"


def google_provider(fake: GoogleFake) -> GoogleOAuth:
    return GoogleOAuth(fake.client_id, fake.client_secret, auth_url=fake.auth_url, token_url=fake.token_url,
                       jwks_url=fake.jwks_url)  # fmt: skip


def google_grant(fake: GoogleFake, address: str, redirect_uri: str = REDIRECT) -> OAuthGrant:
    """Sign in as `address` at the fake, consent, and exchange the code (with PKCE)."""
    fake.signed_in = address
    if redirect_uri not in fake.redirect_uris:
        fake.redirect_uris.append(redirect_uri)
    provider = google_provider(fake)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    url = provider.authorization_url(state="t", code_challenge=challenge, redirect_uri=redirect_uri,
                                     login_hint=address)  # fmt: skip
    code = follow(fake, url)["code"]
    return provider.exchange(code=code, code_verifier=verifier, redirect_uri=redirect_uri)
