"""Secrets kept at rest: rules' webhook signing secrets, encrypted with Fernet (AES-128-CBC and
HMAC-SHA256, from the `cryptography` package) under GATEWAY_SECRETS_KEY.

A database dump alone then reveals no secret. The key comes from settings (never read here from
the environment); without one, outside debug, nothing can be encrypted and a rule cannot be
given a webhook (the save says so, gateway/services/rules.py).
"""

from __future__ import annotations

import secrets as _random

from cryptography.fernet import Fernet, InvalidToken

from gateway.settings import Settings

# What a new secret starts with, so one found in a receiver's config says what it is.
PREFIX = "whsec_"


class SecretsUnavailable(Exception):
    """No key is configured, or the stored secret was encrypted under another key."""


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, URL-safe."""
    return PREFIX + _random.token_urlsafe(32)


def _fernet(settings: Settings) -> Fernet:
    key = settings.effective_secrets_key
    if key is None:
        raise SecretsUnavailable("GATEWAY_SECRETS_KEY is not set")
    return Fernet(key.encode())


def can_encrypt(settings: Settings) -> bool:
    return settings.effective_secrets_key is not None


def encrypt(settings: Settings, secret: str) -> str:
    return _fernet(settings).encrypt(secret.encode()).decode()


def decrypt(settings: Settings, stored: str) -> str:
    try:
        return _fernet(settings).decrypt(stored.encode()).decode()
    except InvalidToken:
        raise SecretsUnavailable(
            "the webhook secret was encrypted under another GATEWAY_SECRETS_KEY"
        ) from None
