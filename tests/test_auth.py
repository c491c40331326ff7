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
from gateway.models import Portal, User
from gateway.settings import DEV_JWT_SECRET, Settings, SettingsError
from tests.conftest import EVENTS_SECRET, JWT_SECRET

VIEWER = "{ viewer { user { email } portal { name } } }"
ACME, GLOBEX = "Acme Demo", "Globex"
ADMIN, GLOBEX_ADMIN = "admin@demo.example", "admin@globex.example"
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


async def _post(client: httpx.AsyncClient, authorization: str | bytes | None) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return await client.post("/graphql", json={"query": VIEWER}, headers=headers)


async def _missing_token_body(client: httpx.AsyncClient) -> bytes:
    response = await _post(client, None)
    assert response.status_code == 401
    assert response.json() == EXPECTED_401
    return response.content


def _assert_refused(response: httpx.Response, reference: bytes) -> None:
    assert response.status_code == 401, response.text
    assert response.content == reference  # byte for byte: nothing tells which check failed
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["www-authenticate"].lower().startswith("bearer")


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

    assert response.status_code == 200, response.text
    assert response.json()["data"]["viewer"]["user"]["email"] == ADMIN


async def test_valid_token_over_get(client, settings, demo) -> None:
    token = mint_token(await _user(ADMIN), settings)

    response = await client.get(
        "/graphql", params={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["data"]["viewer"]["portal"]["name"] == ACME


# ---- HS256: every failure gets the same 401


async def _expired(settings: Settings, admin: User) -> str:
    # Past the 5 s leeway.
    return mint_token(
        admin, settings, ttl=timedelta(minutes=5), now=datetime.now(UTC) - timedelta(minutes=6)
    )


async def _forged(settings: Settings, admin: User) -> str:
    return jwt.encode(
        _claims(settings, admin), "another-secret-0123456789abcdef0123456789", algorithm="HS256"
    )


async def _tampered(settings: Settings, admin: User) -> str:
    """A valid token whose payload was swapped for a Globex admin's: the signature no longer fits."""
    header, _payload, signature = mint_token(admin, settings).split(".")
    globex_admin = await _user(GLOBEX_ADMIN)
    return f"{header}.{_segment(_claims(settings, globex_admin))}.{signature}"


async def _wrong_audience(settings: Settings, admin: User) -> str:
    return jwt.encode(_claims(settings, admin, aud="someone-else"), JWT_SECRET, algorithm="HS256")


async def _wrong_issuer(settings: Settings, admin: User) -> str:
    return jwt.encode(
        _claims(settings, admin, iss="https://evil.example"), JWT_SECRET, algorithm="HS256"
    )


async def _alg_none(settings: Settings, admin: User) -> str:
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(_claims(settings, admin))}."


async def _alg_none_capitalised(settings: Settings, admin: User) -> str:
    return f"{_segment({'alg': 'None', 'typ': 'JWT'})}.{_segment(_claims(settings, admin))}."


async def _hs512(settings: Settings, admin: User) -> str:
    # The right secret, another HMAC: only HS256 is accepted.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT finds the secret short for SHA-512
        return jwt.encode(_claims(settings, admin), JWT_SECRET, algorithm="HS512")


async def _no_exp(settings: Settings, admin: User) -> str:
    return jwt.encode(_claims(settings, admin, exp=None), JWT_SECRET, algorithm="HS256")


async def _no_aud(settings: Settings, admin: User) -> str:
    return jwt.encode(_claims(settings, admin, aud=None), JWT_SECRET, algorithm="HS256")


async def _no_portal(settings: Settings, admin: User) -> str:
    return jwt.encode(_claims(settings, admin, portal=None), JWT_SECRET, algorithm="HS256")


async def _sub_is_a_raw_pk(settings: Settings, admin: User) -> str:
    return jwt.encode(_claims(settings, admin, sub=str(admin.id)), JWT_SECRET, algorithm="HS256")


async def _sub_is_a_portal_id(settings: Settings, admin: User) -> str:
    sub = to_global_id("Portal", admin.portal_id)
    return jwt.encode(_claims(settings, admin, sub=sub), JWT_SECRET, algorithm="HS256")


async def _sub_is_garbage(settings: Settings, admin: User) -> str:
    return jwt.encode(_claims(settings, admin, sub="not-an-id"), JWT_SECRET, algorithm="HS256")


async def _sub_is_not_a_string(settings: Settings, admin: User) -> str:
    return jwt.encode(_claims(settings, admin, sub=admin.id), JWT_SECRET, algorithm="HS256")


async def _portal_is_a_user_id(settings: Settings, admin: User) -> str:
    portal = to_global_id("User", admin.portal_id)
    return jwt.encode(_claims(settings, admin, portal=portal), JWT_SECRET, algorithm="HS256")


async def _user_of_another_portal(settings: Settings, admin: User) -> str:
    """Acme's admin claiming Globex: a user who is not in the token's portal."""
    globex = await Portal.get(name=GLOBEX)
    return jwt.encode(
        _claims(settings, admin, portal=to_global_id("Portal", globex.id)),
        JWT_SECRET,
        algorithm="HS256",
    )


async def _unknown_user(settings: Settings, admin: User) -> str:
    sub = to_global_id("User", 2**40)
    return jwt.encode(_claims(settings, admin, sub=sub), JWT_SECRET, algorithm="HS256")


async def _not_yet_valid(settings: Settings, admin: User) -> str:
    nbf = int(datetime.now(UTC).timestamp()) + 3600
    return jwt.encode(_claims(settings, admin, nbf=nbf), JWT_SECRET, algorithm="HS256")


async def _dev_secret_without_debug(settings: Settings, admin: User) -> str:
    return jwt.encode(_claims(settings, admin), DEV_JWT_SECRET, algorithm="HS256")


def _raw(header: str | bytes) -> Callable[[Settings, User], Awaitable[str | bytes]]:
    async def make(_settings: Settings, _admin: User) -> str | bytes:
        return header

    return make


BAD_HS256_HEADERS: dict[str, Callable[[Settings, User], Awaitable[str | bytes]]] = {
    "empty header": _raw(""),
    "scheme only": _raw("Bearer"),
    "scheme and blank": _raw("Bearer    "),
    "basic scheme": _raw("Basic " + base64.b64encode(b"admin@demo.example:password").decode()),
    "token without scheme": _raw("eyJhbGciOiJIUzI1NiJ9.e30.sig"),
    "garbage": _raw("Bearer this-is-not-a-jwt"),
    "garbage with dots": _raw("Bearer a.b.c"),
    "non-ascii": _raw("Bearer jöt".encode()),
}

BAD_HS256_TOKENS: dict[str, Callable[[Settings, User], Awaitable[str]]] = {
    "expired": _expired,
    "forged": _forged,
    "tampered payload": _tampered,
    "wrong audience": _wrong_audience,
    "wrong issuer": _wrong_issuer,
    "alg none": _alg_none,
    "alg None": _alg_none_capitalised,
    "HS512": _hs512,
    "no exp": _no_exp,
    "no aud": _no_aud,
    "no portal": _no_portal,
    "sub is a raw pk": _sub_is_a_raw_pk,
    "sub is a Portal id": _sub_is_a_portal_id,
    "sub is garbage": _sub_is_garbage,
    "sub is not a string": _sub_is_not_a_string,
    "portal is a User id": _portal_is_a_user_id,
    "user of another portal": _user_of_another_portal,
    "unknown user": _unknown_user,
    "not yet valid": _not_yet_valid,
    "development secret without debug": _dev_secret_without_debug,
}


async def test_missing_token_is_401_unauthenticated(client, demo) -> None:
    response = await _post(client, None)

    assert response.status_code == 401
    assert response.json() == EXPECTED_401
    assert response.headers["www-authenticate"] == 'Bearer realm="gateway"'


@pytest.mark.parametrize("make", BAD_HS256_HEADERS.values(), ids=BAD_HS256_HEADERS.keys())
async def test_bad_authorization_header_gets_the_same_401(client, settings, demo, make) -> None:
    reference = await _missing_token_body(client)
    header = await make(settings, await _user(ADMIN))

    response = await _post(client, header)

    _assert_refused(response, reference)


@pytest.mark.parametrize("make", BAD_HS256_TOKENS.values(), ids=BAD_HS256_TOKENS.keys())
async def test_bad_token_gets_the_same_401(client, settings, demo, make) -> None:
    reference = await _missing_token_body(client)
    token = await make(settings, await _user(ADMIN))

    response = await _post(client, f"Bearer {token}")

    _assert_refused(response, reference)


async def test_refusal_is_the_same_over_get(client, settings, demo) -> None:
    reference = await _missing_token_body(client)
    token = await _forged(settings, await _user(ADMIN))

    response = await client.get(
        "/graphql", params={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}
    )

    _assert_refused(response, reference)


async def test_refused_token_reveals_nothing_of_the_query(client, demo) -> None:
    """Even an unparsable document is not looked at before the token is checked."""
    reference = await _missing_token_body(client)

    response = await client.post(
        "/graphql", json={"query": "{ not graphql"}, headers={"Authorization": "Bearer x.y.z"}
    )

    _assert_refused(response, reference)


async def test_failure_reason_goes_to_the_log_only(client, settings, demo, caplog) -> None:
    token = await _wrong_audience(settings, await _user(ADMIN))

    with caplog.at_level("INFO", logger="gateway.http"):
        response = await _post(client, f"Bearer {token}")

    assert response.status_code == 401
    assert "audience" not in response.text.lower()
    assert any("audience" in r.getMessage().lower() for r in caplog.records)


# ---- RS256 (an external identity provider): only when a public key is configured


async def test_rs256_token_is_accepted_when_a_public_key_is_configured(
    make_client, settings, demo, rsa_keys
) -> None:
    private, public = rsa_keys
    token = mint_token(await _user(ADMIN), settings, private_key=private)

    async with make_client(jwt_public_key=public) as rs_client:
        response = await _post(rs_client, f"Bearer {token}")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": {"viewer": {"user": {"email": ADMIN}, "portal": {"name": ACME}}}
    }


async def test_rs256_token_is_refused_without_a_public_key(
    client, settings, demo, rsa_keys
) -> None:
    reference = await _missing_token_body(client)
    token = mint_token(await _user(ADMIN), settings, private_key=rsa_keys[0])

    _assert_refused(await _post(client, f"Bearer {token}"), reference)


async def test_rs256_only_with_public_key_and_no_hs256_secret(
    make_client, settings, demo, rsa_keys
) -> None:
    """A provider-only deployment: no HS256 secret at all, still starts and authenticates."""
    private, public = rsa_keys
    token = mint_token(await _user(GLOBEX_ADMIN), settings, private_key=private)

    async with make_client(jwt_public_key=public, jwt_secret=None) as rs_client:
        response = await _post(rs_client, f"Bearer {token}")

    assert response.status_code == 200, response.text
    assert response.json()["data"]["viewer"]["portal"]["name"] == GLOBEX


async def _rs_hs256_with_secret(
    settings: Settings, admin: User, keys: tuple[str, str], other: tuple[str, str]
) -> str:
    # The HS256 secret is still configured: it must not be accepted once RS256 is.
    return mint_token(admin, settings)


async def _rs_key_confusion(
    settings: Settings, admin: User, keys: tuple[str, str], other: tuple[str, str]
) -> str:
    # The classic attack: HS256 "signed" with the public key (which everyone has) as secret.
    return _hs256({"alg": "HS256", "typ": "JWT"}, _claims(settings, admin), keys[1].encode())


async def _rs_key_confusion_stripped(
    settings: Settings, admin: User, keys: tuple[str, str], other: tuple[str, str]
) -> str:
    return _hs256(
        {"alg": "HS256", "typ": "JWT"}, _claims(settings, admin), keys[1].strip().encode()
    )


async def _rs_other_key(
    settings: Settings, admin: User, keys: tuple[str, str], other: tuple[str, str]
) -> str:
    return mint_token(admin, settings, private_key=other[0])


async def _rs_alg_none(
    settings: Settings, admin: User, keys: tuple[str, str], other: tuple[str, str]
) -> str:
    return await _alg_none(settings, admin)


async def _rs_expired(
    settings: Settings, admin: User, keys: tuple[str, str], other: tuple[str, str]
) -> str:
    past = datetime.now(UTC) - timedelta(hours=2)
    return mint_token(admin, settings, private_key=keys[0], now=past, ttl=timedelta(hours=1))


async def _rs_wrong_audience(
    settings: Settings, admin: User, keys: tuple[str, str], other: tuple[str, str]
) -> str:
    return jwt.encode(_claims(settings, admin, aud="someone-else"), keys[0], algorithm="RS256")


async def _rs_user_of_another_portal(
    settings: Settings, admin: User, keys: tuple[str, str], other: tuple[str, str]
) -> str:
    globex = await Portal.get(name=GLOBEX)
    claims = _claims(settings, admin, portal=to_global_id("Portal", globex.id))
    return jwt.encode(claims, keys[0], algorithm="RS256")


async def _rs_ps256(
    settings: Settings, admin: User, keys: tuple[str, str], other: tuple[str, str]
) -> str:
    # Same key, another algorithm: RS256 is the only one accepted.
    return jwt.encode(_claims(settings, admin), keys[0], algorithm="PS256")


BAD_RS256_TOKENS = {
    "HS256 with the configured secret": _rs_hs256_with_secret,
    "HS256 signed with the public key": _rs_key_confusion,
    "HS256 signed with the stripped public key": _rs_key_confusion_stripped,
    "RS256 signed by another key": _rs_other_key,
    "alg none": _rs_alg_none,
    "expired": _rs_expired,
    "wrong audience": _rs_wrong_audience,
    "user of another portal": _rs_user_of_another_portal,
    "PS256": _rs_ps256,
}


@pytest.mark.parametrize("make", BAD_RS256_TOKENS.values(), ids=BAD_RS256_TOKENS.keys())
async def test_bad_token_gets_the_same_401_with_rs256(
    make_client, client, settings, demo, rsa_keys, other_rsa_keys, make
) -> None:
    reference = await _missing_token_body(client)
    token = await make(settings, await _user(ADMIN), rsa_keys, other_rsa_keys)

    async with make_client(jwt_public_key=rsa_keys[1]) as rs_client:
        assert (await _post(rs_client, None)).content == reference
        response = await _post(rs_client, f"Bearer {token}")

    _assert_refused(response, reference)


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


def test_public_key_alone_is_enough_for_authentication(database_url, rsa_keys) -> None:
    create_app(
        Settings(database_url=database_url, jwt_public_key=rsa_keys[1], events_secret=EVENTS_SECRET)
    )


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

    asked = subprocess.run(
        [sys.executable, "-c", _ASK_APP, VIEWER, token],
        env=env,
        cwd=cli_database,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout.strip().splitlines()[-1]) == {
        "status": 200,
        "body": {"data": {"viewer": {"user": {"email": ADMIN}, "portal": {"name": ACME}}}},
    }

    # The same token under another secret is refused.
    other = {**env, "GATEWAY_JWT_SECRET": "another-secret-0123456789abcdef0123456789"}
    refused = subprocess.run(
        [sys.executable, "-c", _ASK_APP, VIEWER, token],
        env=other,
        cwd=cli_database,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 0, refused.stderr
    assert json.loads(refused.stdout.strip().splitlines()[-1]) == {
        "status": 401,
        "body": EXPECTED_401,
    }


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
    claims = jwt.decode(
        minted.stdout.strip(), JWT_SECRET, algorithms=["HS256"], audience="connected-apps-gateway"
    )
    assert claims["exp"] - claims["iat"] == 60


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
