"""Gmail's OAuth against a local fake of Google's endpoints: the authorization URL, the code
exchange with PKCE, the id token's checks, refreshes and a revoked consent."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.google_oauth import GoogleOAuth
from application.errors import ReconnectNeeded
from application.ports import MailAuthError, MailServerError, OAuthGrant
from tests.support.google_fake import GoogleFake, follow

REDIRECT = "http://127.0.0.1:8000/oauth/callback"


@pytest.fixture
def fake() -> Iterator[GoogleFake]:
    with GoogleFake(redirect_uris=[REDIRECT], signed_in="bob@gmail.test") as google:
        yield google


def provider(fake: GoogleFake) -> GoogleOAuth:
    return GoogleOAuth(fake.client_id, fake.client_secret, auth_url=fake.auth_url, token_url=fake.token_url,
                       jwks_url=fake.jwks_url)  # fmt: skip


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(fake: GoogleFake, google: GoogleOAuth, challenge: str, state: str = "s-1") -> str:
    url = google.authorization_url(state=state, code_challenge=challenge, redirect_uri=REDIRECT,
                                   login_hint="bob@gmail.test")  # fmt: skip
    answer = follow(fake, url)
    assert answer["state"] == state
    return answer["code"]


def connected(fake: GoogleFake) -> tuple[GoogleOAuth, OAuthGrant]:
    google = provider(fake)
    verifier, challenge = pkce()
    code = authorize(fake, google, challenge)
    return google, google.exchange(code=code, code_verifier=verifier, redirect_uri=REDIRECT)


def test_the_authorization_url_asks_for_mail_offline_with_consent_and_pkce(fake: GoogleFake) -> None:
    url = provider(fake).authorization_url(state="st4te", code_challenge="ch", redirect_uri=REDIRECT,
                                           login_hint="bob@gmail.test")  # fmt: skip
    assert url.startswith(fake.auth_url + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["scope"].split() == ["https://mail.google.com/", "openid", "email"]
    assert {k: query[k] for k in ("access_type", "prompt", "response_type", "code_challenge_method")} == {
        "access_type": "offline",
        "prompt": "consent",
        "response_type": "code",
        "code_challenge_method": "S256",
    }
    assert (query["state"], query["code_challenge"], query["redirect_uri"], query["client_id"]) == (
        "st4te",
        "ch",
        REDIRECT,
        fake.client_id,
    )
    assert query["login_hint"] == "bob@gmail.test"


def test_the_code_exchange_names_the_account_from_the_id_token_and_keeps_a_refresh_token(
    fake: GoogleFake,
) -> None:
    google, grant = connected(fake)

    assert grant.address == "bob@gmail.test"
    assert grant.secret.startswith("1//") and grant.access_token in fake.active_tokens("bob@gmail.test")
    refreshed = google.refresh(grant)
    assert (refreshed.address, refreshed.secret) == (grant.address, grant.secret)
    assert refreshed.access_token != grant.access_token
    assert refreshed.expires_at >= grant.expires_at
    assert fake.grants == ["authorization_code", "refresh_token"]


def test_a_code_is_refused_with_the_wrong_verifier_and_a_second_time(fake: GoogleFake) -> None:
    google = provider(fake)
    verifier, challenge = pkce()
    code = authorize(fake, google, challenge)
    with pytest.raises(MailAuthError, match="refused the authorization code"):
        google.exchange(code=code, code_verifier=pkce()[0], redirect_uri=REDIRECT)
    code = authorize(fake, google, challenge)
    google.exchange(code=code, code_verifier=verifier, redirect_uri=REDIRECT)
    with pytest.raises(MailAuthError):  # single use
        google.exchange(code=code, code_verifier=verifier, redirect_uri=REDIRECT)


def test_a_revoked_consent_asks_for_a_reconnection(fake: GoogleFake) -> None:
    google, grant = connected(fake)
    fake.revoke("bob@gmail.test")
    with pytest.raises(ReconnectNeeded):
        google.refresh(grant)
    assert fake.active_tokens("bob@gmail.test") == []


@pytest.mark.parametrize(
    "tamper",
    [{"aud": "someone-else.apps.googleusercontent.com"}, {"iss": "https://evil.example"},
     {"exp": 1_000_000_000}, {"email_verified": False}, "forged"],
)  # fmt: skip
def test_an_id_token_that_does_not_verify_connects_nothing(fake: GoogleFake, tamper: object) -> None:
    if tamper == "forged":
        fake.forged = True
    else:
        assert isinstance(tamper, dict)
        fake.id_claims = tamper
    with pytest.raises(MailServerError, match="id token did not verify|address is not verified"):
        connected(fake)


def test_the_user_cancelling_on_the_consent_screen_comes_back_as_access_denied(fake: GoogleFake) -> None:
    fake.deny = True
    url = provider(fake).authorization_url(state="s", code_challenge=pkce()[1], redirect_uri=REDIRECT,
                                           login_hint=None)  # fmt: skip
    assert follow(fake, url) == {"error": "access_denied", "state": "s"}
