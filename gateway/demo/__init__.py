"""Deterministic demo data: a global catalogue (`catalogue`), the "Acme Demo" portal and a small
"Globex" (`portals`), and the code that writes them (`seed`). Not a service: it writes rows the
way the services would have, by calling their rules."""

from gateway.demo.portals import (
    ACME_NAME,
    ADMIN_EMAIL,
    DISCONNECTED_SLUG,
    ERROR_SLUG,
    GLOBEX_ADMIN_EMAIL,
    GLOBEX_NAME,
    LOG_WINDOW,
    MANAGER_EMAIL,
    MEMBER2_EMAIL,
    MEMBER_EMAIL,
    MULTI_ACCOUNT_SLUG,
    NEEDS_REAUTH_SLUG,
    NEEDS_UPGRADE_SLUG,
    REINSTALLED_SLUG,
    UNINSTALLED_SLUG,
    USER_LEVEL_SLUG,
)
from gateway.demo.seed import SEED, DemoData, seed_demo

__all__ = [
    "ACME_NAME",
    "ADMIN_EMAIL",
    "DISCONNECTED_SLUG",
    "ERROR_SLUG",
    "GLOBEX_ADMIN_EMAIL",
    "GLOBEX_NAME",
    "LOG_WINDOW",
    "MANAGER_EMAIL",
    "MEMBER2_EMAIL",
    "MEMBER_EMAIL",
    "MULTI_ACCOUNT_SLUG",
    "NEEDS_REAUTH_SLUG",
    "NEEDS_UPGRADE_SLUG",
    "REINSTALLED_SLUG",
    "SEED",
    "UNINSTALLED_SLUG",
    "USER_LEVEL_SLUG",
    "DemoData",
    "seed_demo",
]
