"""Authentication (DESIGN §3): bearer JWTs, HS256 or RS256-only, one 401 answer for every
failure; the settings that refuse to start without real secrets; `gateway token`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.app import create_app
from gateway.auth import mint_token
from gateway.ids import decode_id, to_global_id
from gateway.models import NotificationRule, Portal, User
from gateway.settings import DEV_JWT_SECRET, Settings, SettingsError
from tests.conftest import EVENTS_SECRET, JWT_SECRET

VIEWER = "{ viewer { user { email } portal { name } } }"
ACME, GLOBEX = "Acme Demo", "Globex"
ADMIN, GLOBEX_ADMIN = "admin@demo.example", "admin@globex.example"
ADMIN_VIEWER = {"data": {"viewer": {"user": {"email": ADMIN}, "portal": {"name": ACME}}}}
CREATE_RULE = """mutation { createNotificationRule(input: { name: "Refused", type: APP_INSTALL,
  frequency: DAILY, allApps: true, audience: SUPER_ADMINS, channels: [IN_APP] }) {
  rule { id } userErrors { code } } }"""
GENERIC_CHALLENGE = 'Bearer realm="gateway"'
# RFC 6750 §3.1: the client should get a new token and retry.
EXPIRED_CHALLENGE = 'Bearer realm="gateway", error="invalid_token", error_description="expired"'
EXPECTED_401 = {
    "errors": [
        {
            "message": "Authentication required: send a valid bearer token",
            "extensions": {"code": "UNAUTHENTICATED"},
        }
    ]
}


# ---- helpers


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _segment(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def _hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """A token signed by hand, so keys PyJWT refuses to use for HMAC can still be tried."""
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _claims(settings: Settings, user: User, **changes: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "sub": to_global_id("User", user.id),
        "portal": to_global_id("Portal", user.portal_id),
        "iat": now,
        "exp": now + 3600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    for key, value in changes.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


def _rsa_pair() -> tuple[str, str]:
    """(private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[str, str]:
    return _rsa_pair()


@pytest.fixture(scope="module")
def other_rsa_keys() -> tuple[str, str]:
    return _rsa_pair()


async def _user(email: str) -> User:
    return await User.get(email=email)


async def _post(
    client: httpx.AsyncClient, authorization: str | bytes | None, query: str = VIEWER
) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return await client.post("/graphql", json={"query": query}, headers=headers)  # type: ignore[arg-type]  # httpx takes a str name with a bytes value; its HeaderTypes don't say so


async def _get(client: httpx.AsyncClient, authorization: str) -> httpx.Response:
    return await client.get(
        "/graphql", params={"query": VIEWER}, headers={"Authorization": authorization}
    )


async def _missing_token_body(client: httpx.AsyncClient) -> bytes:
    response = await _post(client, None)
    assert response.status_code == 401
    assert response.json() == EXPECTED_401
    return response.content


def _assert_refused(
    response: httpx.Response, reference: bytes, challenge: str = GENERIC_CHALLENGE
) -> None:
    assert response.status_code == 401, response.text
    assert response.content == reference  # byte for byte: nothing tells which check failed
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["www-authenticate"] == challenge


def _assert_admin(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == ADMIN_VIEWER


def _reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Why the gateway refused, as its log says (the answer never does)."""
    return [
        str(record.args[0])  # type: ignore[index]  # logged with positional args: a tuple
        for record in caplog.records
        if record.name == "gateway.policy" and record.msg == "authentication failed: %s"
    ]


# ---- a valid token


@pytest.mark.parametrize(("email", "portal"), [(ADMIN, ACME), (GLOBEX_ADMIN, GLOBEX)])
async def test_valid_hs256_token_reads_the_viewer(client, settings, demo, email, portal) -> None:
    token = mint_token(await _user(email), settings)

    response = await _post(client, f"Bearer {token}")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": {"viewer": {"user": {"email": email}, "portal": {"name": portal}}}
    }


async def test_scheme_is_case_insensitive_and_spaces_are_tolerated(client, settings, demo) -> None:
    token = mint_token(await _user(ADMIN), settings)

    response = await _post(client, f"bearer   {token} ")

    _assert_admin(response)


async def test_valid_token_over_get(client, settings, demo) -> None:
    token = mint_token(await _user(ADMIN), settings)

    response = await _get(client, f"Bearer {token}")

    _assert_admin(response)


# ---- HS256: every failure gets the same 401
#
# Each bad token below has exactly one defect: with `fixed=True` the maker returns the same
# token with that defect repaired, which the gateway accepts, and the log names the defect as
# the reason for the refusal. So each case shows the refusal comes from that defect alone.

# A token, or (for header defects) the whole header, which may be bytes.
Maker = Callable[..., Awaitable[str | bytes]]


@dataclass(frozen=True)
class Defect:
    make: Maker  # (settings, admin, *, fixed=False) -> token
    reason: str  # what the gateway logs
    challenge: str = GENERIC_CHALLENGE


def _hs(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


async def _expired(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    # Past the 5 s leeway.
    issued = datetime.now(UTC) - (timedelta(0) if fixed else timedelta(minutes=6))
    return mint_token(admin, settings, ttl=timedelta(minutes=5), now=issued)


async def _forged(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    secret = JWT_SECRET if fixed else "another-secret-0123456789abcdef0123456789"
    return jwt.encode(_claims(settings, admin), secret, algorithm="HS256")


async def _tampered(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    """A valid token whose payload was swapped for a Globex admin's: the signature no longer fits."""
    token = mint_token(admin, settings)
    if fixed:
        return token
    header, _payload, signature = token.split(".")
    globex_admin = await _user(GLOBEX_ADMIN)
    return f"{header}.{_segment(_claims(settings, globex_admin))}.{signature}"


async def _wrong_audience(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    return _hs(_claims(settings, admin, aud=settings.jwt_audience if fixed else "someone-else"))


async def _wrong_issuer(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    return _hs(
        _claims(settings, admin, iss=settings.jwt_issuer if fixed else "https://evil.example")
    )


async def _alg_none(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    if fixed:
        return _hs(_claims(settings, admin))
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(_claims(settings, admin))}."


async def _alg_none_capitalised(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    if fixed:
        return _hs(_claims(settings, admin))
    return f"{_segment({'alg': 'None', 'typ': 'JWT'})}.{_segment(_claims(settings, admin))}."


async def _hs512(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    # The right secret, another HMAC: only HS256 is accepted.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT finds the secret short for SHA-512
        return jwt.encode(
            _claims(settings, admin), JWT_SECRET, algorithm="HS256" if fixed else "HS512"
        )


async def _missing(claim: str, settings: Settings, admin: User, fixed: bool) -> str:
    return _hs(_claims(settings, admin) if fixed else _claims(settings, admin, **{claim: None}))


async def _no_exp(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    return await _missing("exp", settings, admin, fixed)


async def _no_aud(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    return await _missing("aud", settings, admin, fixed)


async def _no_portal(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    return await _missing("portal", settings, admin, fixed)


async def _sub(sub: Any, settings: Settings, admin: User, fixed: bool) -> str:
    return _hs(_claims(settings, admin, sub=to_global_id("User", admin.id) if fixed else sub))


async def _sub_is_a_raw_pk(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    return await _sub(str(admin.id), settings, admin, fixed)


async def _sub_is_a_portal_id(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    return await _sub(to_global_id("Portal", admin.portal_id), settings, admin, fixed)


async def _sub_is_garbage(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    return await _sub("not-an-id", settings, admin, fixed)


async def _sub_is_not_a_string(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    return await _sub(admin.id, settings, admin, fixed)


async def _unknown_user(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    # The largest key a global id may carry: well-formed, and no such user.
    return await _sub(to_global_id("User", 2**31 - 1), settings, admin, fixed)


async def _portal_is_a_user_id(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    kind = "Portal" if fixed else "User"
    return _hs(_claims(settings, admin, portal=to_global_id(kind, admin.portal_id)))


async def _user_of_another_portal(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    """Acme's admin claiming Globex: a user who is not in the token's portal."""
    portal = admin.portal_id if fixed else (await Portal.get(name=GLOBEX)).id
    return _hs(_claims(settings, admin, portal=to_global_id("Portal", portal)))


async def _not_yet_valid(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    nbf = int(datetime.now(UTC).timestamp()) + (0 if fixed else 3600)
    return _hs(_claims(settings, admin, nbf=nbf))


async def _dev_secret_without_debug(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    return jwt.encode(
        _claims(settings, admin), JWT_SECRET if fixed else DEV_JWT_SECRET, algorithm="HS256"
    )


async def _expired_and_forged(settings: Settings, admin: User, *, fixed: bool = False) -> str:
    """Only a token we signed is called expired: a forger learns nothing from the challenge."""
    past = datetime.now(UTC) - timedelta(hours=2)
    claims = _claims(settings, admin, iat=int(past.timestamp()), exp=int(past.timestamp()) + 60)
    if fixed:
        return _hs(_claims(settings, admin))
    return jwt.encode(claims, "another-secret-0123456789abcdef0123456789", algorithm="HS256")


async def _expired_and_wrong_audience(
    settings: Settings, admin: User, *, fixed: bool = False
) -> str:
    """Refreshing would not help a token that is wrong in another way: it is not `expired`."""
    past = int((datetime.now(UTC) - timedelta(hours=2)).timestamp())
    if fixed:
        return _hs(_claims(settings, admin))
    return _hs(_claims(settings, admin, iat=past, exp=past + 60, aud="someone-else"))


SIGNATURE = "Signature verification failed"
NOT_ALLOWED = "The specified alg value is not allowed"
NOT_A_GLOBAL_ID = "sub or portal is not a global id"
NOT_IN_PORTAL = "user not in the token's portal"

BAD_HS256_TOKENS: dict[str, Defect] = {
    "expired": Defect(_expired, "Signature has expired", EXPIRED_CHALLENGE),
    "forged": Defect(_forged, SIGNATURE),
    "tampered payload": Defect(_tampered, SIGNATURE),
    "wrong audience": Defect(_wrong_audience, "Audience doesn't match"),
    "wrong issuer": Defect(_wrong_issuer, "Invalid issuer"),
    "alg none": Defect(_alg_none, NOT_ALLOWED),
    "alg None": Defect(_alg_none_capitalised, NOT_ALLOWED),
    "HS512": Defect(_hs512, NOT_ALLOWED),
    "no exp": Defect(_no_exp, 'Token is missing the "exp" claim'),
    "no aud": Defect(_no_aud, 'Token is missing the "aud" claim'),
    "no portal": Defect(_no_portal, 'Token is missing the "portal" claim'),
    "sub is a raw pk": Defect(_sub_is_a_raw_pk, NOT_A_GLOBAL_ID),
    "sub is a Portal id": Defect(_sub_is_a_portal_id, NOT_A_GLOBAL_ID),
    "sub is garbage": Defect(_sub_is_garbage, NOT_A_GLOBAL_ID),
    "sub is not a string": Defect(_sub_is_not_a_string, "Subject must be a string"),
    "portal is a User id": Defect(_portal_is_a_user_id, NOT_A_GLOBAL_ID),
    "user of another portal": Defect(_user_of_another_portal, NOT_IN_PORTAL),
    "unknown user": Defect(_unknown_user, NOT_IN_PORTAL),
    "not yet valid": Defect(_not_yet_valid, "The token is not yet valid (nbf)"),
    "development secret without debug": Defect(_dev_secret_without_debug, SIGNATURE),
    "expired and forged": Defect(_expired_and_forged, SIGNATURE),
    "expired and wrong audience": Defect(_expired_and_wrong_audience, "Audience doesn't match"),
}


def _header(make: Callable[[str], str | bytes]) -> Maker:
    """A bad Authorization header around a valid token; fixed: `Bearer <the token>`."""

    async def maker(settings: Settings, admin: User, *, fixed: bool = False) -> str | bytes:
        token = mint_token(admin, settings)
        return f"Bearer {token}" if fixed else make(token)

    return maker


MISSING = "missing bearer token"

BAD_HS256_HEADERS: dict[str, Defect] = {
    "empty header": Defect(_header(lambda _t: ""), MISSING),
    "scheme only": Defect(_header(lambda _t: "Bearer"), MISSING),
    "scheme and blank": Defect(_header(lambda _t: "Bearer    "), MISSING),
    "basic scheme": Defect(
        _header(lambda _t: "Basic " + base64.b64encode(f"{ADMIN}:password".encode()).decode()),
        MISSING,
    ),
    "a valid token without scheme": Defect(_header(lambda t: t), MISSING),
    "a valid token under another scheme": Defect(_header(lambda t: f"Token {t}"), MISSING),
    "garbage": Defect(_header(lambda _t: "Bearer this-is-not-a-jwt"), "Not enough segments"),
    "garbage with dots": Defect(_header(lambda _t: "Bearer a.b.c"), "Invalid header padding"),
    "non-ascii": Defect(_header(lambda _t: "Bearer jöt".encode()), "Not enough segments"),
}


async def test_missing_token_is_401_unauthenticated(client, demo) -> None:
    response = await _post(client, None)

    assert response.status_code == 401
    assert response.json() == EXPECTED_401
    assert response.headers["www-authenticate"] == GENERIC_CHALLENGE


async def _assert_only_the_defect_is_refused(
    client: httpx.AsyncClient,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    defect: Defect,
    *,
    bearer: bool,
) -> None:
    reference = await _missing_token_body(client)
    admin = await _user(ADMIN)
    good = await defect.make(settings, admin, fixed=True)
    bad = await defect.make(settings, admin)
    if bearer:
        # Token defects make bare tokens (str); only header defects make bytes.
        assert isinstance(good, str) and isinstance(bad, str)
        good, bad = f"Bearer {good}", f"Bearer {bad}"

    _assert_admin(await _post(client, good))
    caplog.clear()
    with caplog.at_level("INFO", logger="gateway.policy"):
        response = await _post(client, bad)

    _assert_refused(response, reference, defect.challenge)
    assert _reasons(caplog) == [defect.reason]


@pytest.mark.parametrize("defect", BAD_HS256_HEADERS.values(), ids=BAD_HS256_HEADERS.keys())
async def test_bad_authorization_header_gets_the_same_401(
    client, settings, demo, caplog, defect
) -> None:
    await _assert_only_the_defect_is_refused(client, settings, caplog, defect, bearer=False)


@pytest.mark.parametrize("defect", BAD_HS256_TOKENS.values(), ids=BAD_HS256_TOKENS.keys())
async def test_bad_token_gets_the_same_401(client, settings, demo, caplog, defect) -> None:
    await _assert_only_the_defect_is_refused(client, settings, caplog, defect, bearer=True)


async def test_refusal_is_the_same_over_get(client, settings, demo, caplog) -> None:
    reference = await _missing_token_body(client)
    admin = await _user(ADMIN)

    _assert_admin(await _get(client, f"Bearer {await _forged(settings, admin, fixed=True)}"))
    with caplog.at_level("INFO", logger="gateway.policy"):
        response = await _get(client, f"Bearer {await _forged(settings, admin)}")

    _assert_refused(response, reference)
    assert _reasons(caplog) == [SIGNATURE]


async def test_an_expired_token_is_told_to_refresh_over_get_too(client, settings, demo) -> None:
    reference = await _missing_token_body(client)

    response = await _get(client, f"Bearer {await _expired(settings, await _user(ADMIN))}")

    _assert_refused(response, reference, EXPIRED_CHALLENGE)


async def _admin_token_expired(settings: Settings, seconds: float) -> str:
    """The super admin's token whose `exp` was `seconds` ago."""
    return mint_token(
        await _user(ADMIN),
        settings,
        ttl=timedelta(minutes=5),
        now=datetime.now(UTC) - timedelta(minutes=5, seconds=seconds),
    )


async def test_a_token_within_the_clock_leeway_is_still_accepted(client, settings, demo) -> None:
    """Tokens are checked with 5 s of leeway for clocks that drift apart."""
    expired_a_second_ago = await _admin_token_expired(settings, 1)

    _assert_admin(await _post(client, f"Bearer {expired_a_second_ago}"))


async def test_a_token_accepted_before_is_refused_once_it_expires(client, settings, demo) -> None:
    """Verified tokens are remembered between requests (gateway/auth.py), never past their
    expiry: a token at the edge of the leeway works, then is told to refresh."""
    import asyncio

    within_leeway = await _admin_token_expired(settings, 4)
    _assert_admin(await _post(client, f"Bearer {within_leeway}"))
    _assert_admin(await _post(client, f"Bearer {within_leeway}"))  # the remembered one

    await asyncio.sleep(1.5)  # now more than 5 s past `exp`

    response = await _post(client, f"Bearer {within_leeway}")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == EXPIRED_CHALLENGE


async def test_a_token_is_not_remembered_across_keys(settings, demo) -> None:
    """A token verified under one secret is not taken under another (a rotated secret)."""
    from gateway.auth import AuthenticationFailed, authenticate

    token = mint_token(await _user(ADMIN), settings)
    header = f"Bearer {token}"
    await authenticate(header, settings)  # verified, and remembered for this secret
    rotated = settings.with_(jwt_secret="another-secret-" + "y" * 40)
    with pytest.raises(AuthenticationFailed):
        await authenticate(header, rotated)
    await authenticate(header, settings)


async def test_refused_token_reveals_nothing_of_the_query(client, demo) -> None:
    """Even an unparsable document is not looked at before the token is checked."""
    reference = await _missing_token_body(client)

    response = await _post(client, "Bearer x.y.z", query="{ not graphql")

    _assert_refused(response, reference)


async def test_a_refused_token_changes_nothing(client, settings, demo) -> None:
    # given a forged token for the super admin and a mutation that would create a rule
    admin = await _user(ADMIN)
    rules_before = await NotificationRule.filter(portal_id=admin.portal_id).count()
    # when the mutation is sent with it
    response = await _post(client, f"Bearer {await _forged(settings, admin)}", CREATE_RULE)
    # then it is refused like any other request, and no rule was created
    _assert_refused(response, await _missing_token_body(client))
    assert await NotificationRule.filter(portal_id=admin.portal_id).count() == rules_before


async def test_failure_reason_goes_to_the_log_only(client, settings, demo, caplog) -> None:
    token = await _wrong_audience(settings, await _user(ADMIN))

    with caplog.at_level("INFO", logger="gateway.policy"):
        response = await _post(client, f"Bearer {token}")

    assert response.status_code == 401
    assert "audience" not in response.text.lower()
    assert _reasons(caplog) == ["Audience doesn't match"]


# ---- RS256 (an external identity provider): only when a public key is configured


async def test_rs256_token_is_accepted_when_a_public_key_is_configured(
    make_client, settings, demo, rsa_keys
) -> None:
    private, public = rsa_keys
    token = mint_token(await _user(ADMIN), settings, private_key=private)

    async with make_client(jwt_public_key=public) as rs_client:
        response = await _post(rs_client, f"Bearer {token}")

    _assert_admin(response)


async def test_rs256_token_is_refused_without_a_public_key(
    client, settings, demo, rsa_keys, caplog
) -> None:
    reference = await _missing_token_body(client)
    token = mint_token(await _user(ADMIN), settings, private_key=rsa_keys[0])

    with caplog.at_level("INFO", logger="gateway.policy"):
        response = await _post(client, f"Bearer {token}")

    _assert_refused(response, reference)
    assert _reasons(caplog) == [NOT_ALLOWED]


async def test_rs256_only_with_public_key_and_no_hs256_secret(
    make_client, settings, demo, rsa_keys
) -> None:
    """A provider-only deployment: no HS256 secret at all, still starts and authenticates."""
    private, public = rsa_keys
    token = mint_token(await _user(GLOBEX_ADMIN), settings, private_key=private)

    async with make_client(jwt_public_key=public, jwt_secret=None) as rs_client:
        response = await _post(rs_client, f"Bearer {token}")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": {"viewer": {"user": {"email": GLOBEX_ADMIN}, "portal": {"name": GLOBEX}}}
    }


@dataclass(frozen=True)
class RSKeys:
    ours: tuple[str, str]  # (private PEM, public PEM); the gateway has the public one
    other: tuple[str, str]

    def good(self, settings: Settings, admin: User) -> str:
        return mint_token(admin, settings, private_key=self.ours[0])

    def rs(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.ours[0], algorithm="RS256")


RSMaker = Callable[..., Awaitable[str]]  # (settings, admin, keys, *, fixed=False) -> token


async def _rs_hs256_with_secret(
    settings: Settings, admin: User, keys: RSKeys, *, fixed: bool = False
) -> str:
    # The HS256 secret is still configured: it must not be accepted once RS256 is.
    return keys.good(settings, admin) if fixed else mint_token(admin, settings)


async def _rs_key_confusion(
    settings: Settings, admin: User, keys: RSKeys, *, fixed: bool = False
) -> str:
    # The classic attack: HS256 "signed" with the public key (which everyone has) as secret.
    if fixed:
        return keys.rs(_claims(settings, admin))
    return _hs256({"alg": "HS256", "typ": "JWT"}, _claims(settings, admin), keys.ours[1].encode())


async def _rs_key_confusion_stripped(
    settings: Settings, admin: User, keys: RSKeys, *, fixed: bool = False
) -> str:
    if fixed:
        return keys.rs(_claims(settings, admin))
    secret = keys.ours[1].strip().encode()
    return _hs256({"alg": "HS256", "typ": "JWT"}, _claims(settings, admin), secret)


async def _rs_other_key(
    settings: Settings, admin: User, keys: RSKeys, *, fixed: bool = False
) -> str:
    return mint_token(admin, settings, private_key=(keys.ours if fixed else keys.other)[0])


async def _rs_alg_none(
    settings: Settings, admin: User, keys: RSKeys, *, fixed: bool = False
) -> str:
    if fixed:
        return keys.rs(_claims(settings, admin))
    return await _alg_none(settings, admin)


async def _rs_expired(settings: Settings, admin: User, keys: RSKeys, *, fixed: bool = False) -> str:
    past = datetime.now(UTC) - (timedelta(0) if fixed else timedelta(hours=2))
    return mint_token(admin, settings, private_key=keys.ours[0], now=past, ttl=timedelta(hours=1))


async def _rs_wrong_audience(
    settings: Settings, admin: User, keys: RSKeys, *, fixed: bool = False
) -> str:
    aud = settings.jwt_audience if fixed else "someone-else"
    return keys.rs(_claims(settings, admin, aud=aud))


async def _rs_user_of_another_portal(
    settings: Settings, admin: User, keys: RSKeys, *, fixed: bool = False
) -> str:
    portal = admin.portal_id if fixed else (await Portal.get(name=GLOBEX)).id
    return keys.rs(_claims(settings, admin, portal=to_global_id("Portal", portal)))


async def _rs_ps256(settings: Settings, admin: User, keys: RSKeys, *, fixed: bool = False) -> str:
    # Same key, another algorithm: RS256 is the only one accepted.
    algorithm = "RS256" if fixed else "PS256"
    return jwt.encode(_claims(settings, admin), keys.ours[0], algorithm=algorithm)


@dataclass(frozen=True)
class RSDefect:
    make: RSMaker
    reason: str
    challenge: str = GENERIC_CHALLENGE


BAD_RS256_TOKENS = {
    "HS256 with the configured secret": RSDefect(_rs_hs256_with_secret, NOT_ALLOWED),
    "HS256 signed with the public key": RSDefect(_rs_key_confusion, NOT_ALLOWED),
    "HS256 signed with the stripped public key": RSDefect(_rs_key_confusion_stripped, NOT_ALLOWED),
    "RS256 signed by another key": RSDefect(_rs_other_key, SIGNATURE),
    "alg none": RSDefect(_rs_alg_none, NOT_ALLOWED),
    "expired": RSDefect(_rs_expired, "Signature has expired", EXPIRED_CHALLENGE),
    "wrong audience": RSDefect(_rs_wrong_audience, "Audience doesn't match"),
    "user of another portal": RSDefect(_rs_user_of_another_portal, NOT_IN_PORTAL),
    "PS256": RSDefect(_rs_ps256, NOT_ALLOWED),
}


@pytest.mark.parametrize("defect", BAD_RS256_TOKENS.values(), ids=BAD_RS256_TOKENS.keys())
async def test_bad_token_gets_the_same_401_with_rs256(
    make_client, client, settings, demo, rsa_keys, other_rsa_keys, caplog, defect
) -> None:
    reference = await _missing_token_body(client)
    keys, admin = RSKeys(rsa_keys, other_rsa_keys), await _user(ADMIN)
    good = await defect.make(settings, admin, keys, fixed=True)
    bad = await defect.make(settings, admin, keys)

    async with make_client(jwt_public_key=rsa_keys[1]) as rs_client:
        assert (await _post(rs_client, None)).content == reference
        _assert_admin(await _post(rs_client, f"Bearer {good}"))
        caplog.clear()
        with caplog.at_level("INFO", logger="gateway.policy"):
            response = await _post(rs_client, f"Bearer {bad}")

    _assert_refused(response, reference, defect.challenge)
    assert _reasons(caplog) == [defect.reason]


# ---- settings: no guessable secret ships


def test_refuses_to_start_without_jwt_secret(database_url) -> None:
    with pytest.raises(SettingsError, match="GATEWAY_JWT_SECRET"):
        create_app(Settings(database_url=database_url, events_secret=EVENTS_SECRET))


def test_refuses_to_start_without_events_secret(database_url) -> None:
    with pytest.raises(SettingsError, match="GATEWAY_EVENTS_SECRET"):
        create_app(Settings(database_url=database_url, jwt_secret=JWT_SECRET))


def test_refuses_to_start_with_nothing_configured(database_url) -> None:
    with pytest.raises(SettingsError, match="GATEWAY_JWT_SECRET"):
        create_app(Settings(database_url=database_url))


def test_public_key_alone_is_enough_to_start(database_url, rsa_keys) -> None:
    """Starting is all this shows; test_rs256_only_with_public_key_and_no_hs256_secret shows
    such a deployment authenticates."""
    settings = Settings(
        database_url=database_url, jwt_public_key=rsa_keys[1], events_secret=EVENTS_SECRET
    )

    create_app(settings)

    assert settings.effective_jwt_secret is None


def test_from_env_refuses_without_secrets_unless_debug() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_JWT_SECRET"):
        Settings.from_env({}).check_secrets()
    debug = Settings.from_env({"GATEWAY_DEBUG": "1"})
    debug.check_secrets()
    assert debug.effective_jwt_secret == DEV_JWT_SECRET


def test_debug_starts_with_the_development_secrets(database_url) -> None:
    settings = Settings(database_url=database_url, debug=True)

    create_app(settings)

    assert settings.effective_jwt_secret == DEV_JWT_SECRET
    assert settings.effective_events_secret


async def test_debug_accepts_tokens_signed_with_the_development_secret(make_client, demo) -> None:
    dev = Settings(debug=True)
    token = mint_token(await _user(ADMIN), dev)

    async with make_client(debug=True, jwt_secret=None, events_secret=None) as dev_client:
        response = await _post(dev_client, f"Bearer {token}")

    assert response.status_code == 200, response.text
    assert response.json()["data"]["viewer"]["user"]["email"] == ADMIN


# ---- `gateway token`


def _cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATABASE_URL"] = f"sqlite://{tmp_path / 'cli.sqlite3'}"
    env.update(extra)
    return env


def _gateway(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "gateway"
    return subprocess.run(
        [str(executable), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


# Runs the app against the CLI's own database (one process holds one Tortoise setup).
_ASK_APP = """
import asyncio, json, sys
import httpx
from gateway.app import create_app
from gateway.settings import Settings

async def main():
    app = create_app(Settings.from_env())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            r = await c.post("/graphql", json={"query": sys.argv[1]},
                             headers={"Authorization": "Bearer " + sys.argv[2]})
            print(json.dumps({"status": r.status_code, "body": r.json()}))

asyncio.run(main())
"""


def _ask_app(query: str, token: str, env: dict[str, str]) -> dict[str, Any]:
    """Status and body of `query` asked of an app on the CLI's database, with `token`."""
    folder = Path(env["GATEWAY_DATABASE_URL"].removeprefix("sqlite://")).parent
    asked = subprocess.run(
        [sys.executable, "-c", _ASK_APP, query, token],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert asked.returncode == 0, asked.stderr
    return json.loads(asked.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cli_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    migrated = _gateway("migrate", env=_cli_env(folder), cwd=folder)
    assert migrated.returncode == 0, migrated.stderr
    seeded = _gateway("seed", "--demo", env=_cli_env(folder), cwd=folder)
    assert seeded.returncode == 0, seeded.stderr
    return folder


def test_gateway_token_prints_a_token_the_app_accepts(cli_database: Path) -> None:
    env = _cli_env(cli_database, GATEWAY_JWT_SECRET=JWT_SECRET, GATEWAY_EVENTS_SECRET=EVENTS_SECRET)

    minted = _gateway("token", "--email", ADMIN, env=env, cwd=cli_database)

    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    claims = jwt.decode(
        token,
        JWT_SECRET,
        algorithms=["HS256"],
        audience="connected-apps-gateway",
        issuer="connected-apps-gateway",
    )
    assert decode_id(claims["sub"], "User") is not None
    assert decode_id(claims["portal"], "Portal") is not None
    assert claims["exp"] - claims["iat"] == 12 * 3600

    assert _ask_app(VIEWER, token, env) == {"status": 200, "body": ADMIN_VIEWER}

    # The same token under another secret is refused.
    other = {**env, "GATEWAY_JWT_SECRET": "another-secret-0123456789abcdef0123456789"}
    assert _ask_app(VIEWER, token, other) == {"status": 401, "body": EXPECTED_401}


def test_gateway_token_honours_ttl_and_portal(cli_database: Path) -> None:
    env = _cli_env(cli_database, GATEWAY_JWT_SECRET=JWT_SECRET, GATEWAY_EVENTS_SECRET=EVENTS_SECRET)

    minted = _gateway(
        "token",
        "--email",
        GLOBEX_ADMIN,
        "--portal",
        GLOBEX,
        "--ttl",
        "60",
        env=env,
        cwd=cli_database,
    )

    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"], audience="connected-apps-gateway")
    assert claims["exp"] - claims["iat"] == 60
    assert _ask_app(VIEWER, token, env) == {
        "status": 200,
        "body": {"data": {"viewer": {"user": {"email": GLOBEX_ADMIN}, "portal": {"name": GLOBEX}}}},
    }

    # The portal is a filter, not a label: the same email in a portal it isn't in is no one.
    elsewhere = _gateway(
        "token", "--email", GLOBEX_ADMIN, "--portal", ACME, env=env, cwd=cli_database
    )
    assert elsewhere.returncode == 2
    assert elsewhere.stdout == ""
    assert GLOBEX_ADMIN in elsewhere.stderr


def test_gateway_token_for_an_unknown_email_fails(cli_database: Path) -> None:
    env = _cli_env(cli_database, GATEWAY_JWT_SECRET=JWT_SECRET, GATEWAY_EVENTS_SECRET=EVENTS_SECRET)

    minted = _gateway("token", "--email", "nobody@nowhere.example", env=env, cwd=cli_database)

    assert minted.returncode == 2
    assert minted.stdout == ""
    assert "nobody@nowhere.example" in minted.stderr


def test_gateway_token_without_a_secret_signs_with_the_development_one(
    cli_database: Path,
) -> None:
    # (only a gateway in debug mode accepts it; `serve` still refuses to start without secrets)
    minted = _gateway("token", "--email", ADMIN, env=_cli_env(cli_database), cwd=cli_database)

    assert minted.returncode == 0, minted.stderr
    assert "development secret" in minted.stderr
    claims = jwt.decode(
        minted.stdout.strip(),
        DEV_JWT_SECRET,
        algorithms=["HS256"],
        audience="connected-apps-gateway",
        issuer="connected-apps-gateway",
    )
    assert decode_id(claims["sub"], "User") is not None
