"""GraphQL types of install requests (Entra's admin-consent workflow): the request, the
portal's policy, and the mutations that make and decide requests (`Mutation` inherits them)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from gateway import models as m
from gateway.context import Info
from gateway.executor.batch import batch_field
from gateway.resolvers import install_requests as r
from gateway.schema.apps import ConnectedApp, MarketplaceListing
from gateway.schema.base import Node, id_field, node_type
from gateway.schema.enums import InstallRequestStatus
from gateway.services.problems import Problem

if TYPE_CHECKING:
    from gateway.schema.mutations import UserError
    from gateway.schema.portal import User

UserT = Annotated["User", strawberry.lazy("gateway.schema.portal")]
UserErrorT = Annotated["UserError", strawberry.lazy("gateway.schema.mutations")]


@strawberry.type(
    description=(
        "A request by someone without INSTALL_APPS to install a PORTAL listing, or to connect a "
        "new account of a MULTI_ACCOUNT listing. Reviewers (INSTALL_APPS holders and super "
        "admins) see every request of the portal; anyone else sees only their own."
    )
)
class InstallRequest(Node):
    is_type_of = node_type(m.InstallRequest)

    id: strawberry.ID = id_field("InstallRequest", "install request")

    listing: MarketplaceListing = batch_field(r.listings, description="The listing asked for.")
    requested_by: UserT = batch_field(r.requesters, description="Who asked.")
    justification: str = strawberry.field(
        description="Why they need the app (1 to 500 characters)."
    )
    scopes: list[str] | None = batch_field(
        r.scopes,
        description=(
            "The scopes asked for; null when left out (an approval then grants every scope the "
            "tier allows, as an install without scopes does)."
        ),
    )
    account_name: str | None = strawberry.field(
        description="The external account to connect (MULTI_ACCOUNT listings); null otherwise."
    )
    status: InstallRequestStatus = strawberry.field(description="Where the request stands.")
    created_at: datetime = strawberry.field(description="When it was asked.")
    expires_at: datetime = strawberry.field(
        description=(
            "When a PENDING request expires: createdAt plus the portal's durationDays when it "
            "was asked. A worker pass marks it EXPIRED; a decision attempted after it expires "
            "it (CONFLICT)."
        )
    )
    decided_by: UserT | None = batch_field(
        r.deciders,
        description=(
            "Who approved or denied it (for an approval by another install, its installer), or "
            "who cancelled it; null while pending and when it expired."
        ),
    )
    decided_at: datetime | None = strawberry.field(
        description="When it was approved, denied, cancelled or expired; null while pending."
    )
    decision_note: str | None = strawberry.field(
        description="The reviewer's note: required when denying, optional when approving."
    )
    app: ConnectedApp | None = batch_field(
        r.apps, description="The app the approval installed (or added the account to)."
    )
    viewer_can_decide: bool = batch_field(
        r.viewer_can_decide,
        description=(
            "The viewer may approve or deny it now: it is PENDING and not past expiresAt, and "
            "they hold INSTALL_APPS (super admins hold it)."
        ),
        viewer_facts=("can_install",),
    )
    viewer_can_cancel: bool = batch_field(
        r.viewer_can_cancel,
        description="The viewer asked, and it is PENDING and not past expiresAt.",
        viewer_facts=("id",),
    )


@strawberry.type(description="How install requests of the portal are handled.")
class InstallRequestPolicy:
    duration_days: int = strawberry.field(
        description="Days a request waits for a decision before it expires (1 to 90; default 30)."
    )
    reminders_enabled: bool = strawberry.field(
        description=(
            "Reviewers get at most one reminder a day (in the portal's timezone) of the requests "
            "that have waited more than 24 hours."
        )
    )


@strawberry.input(
    description="Ask for a listing to be installed (for people without INSTALL_APPS)."
)
class RequestAppInstallInput:
    listing_id: strawberry.ID = strawberry.field(
        description="A PORTAL listing not installed, or a MULTI_ACCOUNT listing."
    )
    justification: str = strawberry.field(description="Why you need the app: 1 to 500 characters.")
    scopes: list[str] | None = strawberry.field(
        default=None,
        description=(
            "The scopes wanted; every scope the tier allows when left out. Required scopes "
            "cannot be left out."
        ),
    )
    account_name: str | None = strawberry.field(
        default=None,
        description="The external account to connect (MULTI_ACCOUNT listings only, and required there).",
    )


@strawberry.input(description="Approve or deny an install request (INSTALL_APPS holders).")
class DecideInstallRequestInput:
    request_id: strawberry.ID = strawberry.field(description="The pending request.")
    note: str | None = strawberry.field(
        default=None,
        description="A note for the requester, 1 to 500 characters: required to deny.",
    )


@strawberry.input(description="Withdraw your own pending install request.")
class CancelInstallRequestInput:
    request_id: strawberry.ID = strawberry.field(description="The pending request.")


@strawberry.input(
    description="Change the install request policy (super admins); what is left out stays."
)
class UpdateInstallRequestPolicyInput:
    duration_days: int | None = strawberry.field(
        default=None,
        description="Days a new request waits before it expires, 1 to 90 (pending ones keep theirs).",
    )
    reminders_enabled: bool | None = strawberry.field(
        default=None, description="Send reviewers a daily reminder of waiting requests."
    )


@strawberry.type(
    description="Result of requestAppInstall, denyInstallRequest and cancelInstallRequest."
)
class InstallRequestPayload:
    request: InstallRequest | None = strawberry.field(
        description="The request as it is now; null when refused."
    )
    user_errors: list[UserErrorT] = strawberry.field(
        description="Why it was refused; empty on success."
    )


@strawberry.type(description="Result of approveInstallRequest.")
class ApproveInstallRequestPayload:
    request: InstallRequest | None = strawberry.field(
        description="The approved request; null when refused."
    )
    app: ConnectedApp | None = strawberry.field(
        description="The app the approval installed; null when refused."
    )
    user_errors: list[UserErrorT] = strawberry.field(
        description="Why it was refused (the install's own refusals included); empty on success."
    )


@strawberry.type(description="Result of updateInstallRequestPolicy.")
class UpdateInstallRequestPolicyPayload:
    policy: InstallRequestPolicy | None = strawberry.field(
        description="The policy as it is now; null when refused."
    )
    user_errors: list[UserErrorT] = strawberry.field(
        description="Why it was refused; empty on success."
    )


def _errors(problems: list[Problem]) -> list[UserError]:
    # Imported here: gateway.schema.mutations imports this module for its Mutation.
    from gateway.schema.mutations import user_errors

    return user_errors(problems)


@strawberry.type(description="The install request mutations (part of Mutation).")
class InstallRequestMutations:
    @strawberry.mutation(
        description=(
            "Ask for a PORTAL listing, or a new account of a MULTI_ACCOUNT listing, to be "
            "installed (people without INSTALL_APPS): reviewers are told at once. A USER "
            "listing is INVALID (connect to it directly); one pending request per person, "
            "listing and account (CONFLICT); NEEDS_UPGRADE when a required scope is above the tier."
        )
    )
    async def request_app_install(
        self, info: Info, input: RequestAppInstallInput
    ) -> InstallRequestPayload:
        request, problems = await r.request_app_install(
            info, input.listing_id, input.justification, input.scopes, input.account_name
        )
        return InstallRequestPayload(request=request, user_errors=_errors(problems))

    @strawberry.mutation(
        description=(
            "Approve a pending request (INSTALL_APPS): installs the listing as installApp would, "
            "with the requested scopes, the approver as installer. A refused install answers its "
            "problems and the request stays PENDING; past expiresAt the request is expired "
            "(CONFLICT)."
        )
    )
    async def approve_install_request(
        self, info: Info, input: DecideInstallRequestInput
    ) -> ApproveInstallRequestPayload:
        result, problems = await r.approve(info, input.request_id, input.note)
        request, app = result if result else (None, None)
        return ApproveInstallRequestPayload(
            request=request,
            app=app,
            user_errors=_errors(problems),
        )

    @strawberry.mutation(
        description="Deny a pending request with a note for the requester (INSTALL_APPS)."
    )
    async def deny_install_request(
        self, info: Info, input: DecideInstallRequestInput
    ) -> InstallRequestPayload:
        request, problems = await r.deny(info, input.request_id, input.note)
        return InstallRequestPayload(request=request, user_errors=_errors(problems))

    @strawberry.mutation(description="Withdraw your own pending request; nobody is told.")
    async def cancel_install_request(
        self, info: Info, input: CancelInstallRequestInput
    ) -> InstallRequestPayload:
        request, problems = await r.cancel(info, input.request_id)
        return InstallRequestPayload(request=request, user_errors=_errors(problems))

    @strawberry.mutation(description="Change the install request policy (super admins only).")
    async def update_install_request_policy(
        self, info: Info, input: UpdateInstallRequestPolicyInput
    ) -> UpdateInstallRequestPolicyPayload:
        policy, problems = await r.update_policy(info, input.duration_days, input.reminders_enabled)
        return UpdateInstallRequestPolicyPayload(
            policy=policy,
            user_errors=_errors(problems),
        )
