"""Mutations: one `input`, a payload with the changed object and `userErrors` (DESIGN §2)."""

from __future__ import annotations

import strawberry

from gateway.context import Info
from gateway.resolvers import mutations as r
from gateway.schema.apps import ConnectedApp
from gateway.schema.enums import UserErrorCode
from gateway.services.problems import Problem


@strawberry.type(description="Why a mutation was refused. A refused mutation changes nothing.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path into the input, e.g. ["input", "scopes", "1"]; null when it is the whole request.'
    )
    message: str = strawberry.field(description="What is wrong, for people.")
    code: UserErrorCode = strawberry.field(description="What is wrong, for programs.")


def user_errors(problems: list[Problem]) -> list[UserError]:
    return [UserError(field=list(p.field) if p.field else None, message=p.message, code=p.code) for p in problems]


@strawberry.input(description="Install a marketplace listing, or connect to a user-level or multi-account app.")
class InstallAppInput:
    listing_id: strawberry.ID = strawberry.field(description="The listing to install.")
    scopes: list[str] | None = strawberry.field(
        default=None,
        description="Scopes to grant; all the tier allows when left out. Required scopes cannot be left out.",
    )
    account_name: str | None = strawberry.field(
        default=None, description="The external account to connect (MULTI_ACCOUNT apps only, and required there)."
    )


@strawberry.type(description="Result of installApp.")
class InstallAppPayload:
    app: ConnectedApp | None = strawberry.field(description="The installed app; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused; empty on success.")


@strawberry.input(description="Uninstall an app as a whole.")
class UninstallAppInput:
    app_id: strawberry.ID = strawberry.field(description="The app to uninstall.")


@strawberry.type(description="Result of uninstallApp.")
class UninstallAppPayload:
    app: ConnectedApp | None = strawberry.field(description="The uninstalled app (its `uninstalledAt` is set).")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused; empty on success.")


@strawberry.input(description="Remove one connection; removing the last one uninstalls the app.")
class RemoveAppConnectionInput:
    connection_id: strawberry.ID = strawberry.field(description="The connection to remove.")


@strawberry.type(description="Result of removeAppConnection.")
class RemoveAppConnectionPayload:
    app: ConnectedApp | None = strawberry.field(description="The app after the removal.")
    removed_connection_id: strawberry.ID | None = strawberry.field(description="Id of the removed connection.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused; empty on success.")


@strawberry.input(description="Grant scopes an app still needs (\"Reauthorize to enable\").")
class ReauthorizeAppInput:
    app_id: strawberry.ID = strawberry.field(description="The app to reauthorize.")
    scopes: list[str] | None = strawberry.field(
        default=None, description="Scopes to grant; every NEEDS_REAUTHORIZATION scope when left out."
    )


@strawberry.type(description="Result of reauthorizeApp.")
class ReauthorizeAppPayload:
    app: ConnectedApp | None = strawberry.field(description="The app with its new scope states.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused; empty on success.")


@strawberry.type(description="Everything the console changes.")
class Mutation:
    @strawberry.mutation(description="Install a listing (PORTAL, MULTI_ACCOUNT: managers) or connect to a USER app (anyone).")
    async def install_app(self, info: Info, input: InstallAppInput) -> InstallAppPayload:  # noqa: A002
        app, problems = await r.install_app(info, input.listing_id, input.scopes, input.account_name)
        return InstallAppPayload(app=app, user_errors=user_errors(problems))  # type: ignore[arg-type]

    @strawberry.mutation(description="Uninstall an app as a whole (managers): connections and grants go, history stays.")
    async def uninstall_app(self, info: Info, input: UninstallAppInput) -> UninstallAppPayload:  # noqa: A002
        app, problems = await r.uninstall_app(info, input.app_id)
        return UninstallAppPayload(app=app, user_errors=user_errors(problems))  # type: ignore[arg-type]

    @strawberry.mutation(description="Remove your own connection to a USER app, or any connection (managers).")
    async def remove_app_connection(self, info: Info, input: RemoveAppConnectionInput) -> RemoveAppConnectionPayload:  # noqa: A002
        result, problems = await r.remove_app_connection(info, input.connection_id)
        app, removed = result if result else (None, None)
        return RemoveAppConnectionPayload(
            app=app,  # type: ignore[arg-type]
            removed_connection_id=strawberry.ID(r.global_id("AppConnection", removed)) if removed else None,
            user_errors=user_errors(problems),
        )

    @strawberry.mutation(description="Grant the scopes that need reauthorization (managers).")
    async def reauthorize_app(self, info: Info, input: ReauthorizeAppInput) -> ReauthorizeAppPayload:  # noqa: A002
        app, problems = await r.reauthorize_app(info, input.app_id, input.scopes)
        return ReauthorizeAppPayload(app=app, user_errors=user_errors(problems))  # type: ignore[arg-type]
