"""The people of an organization (admins only): list, invite, change role, remove."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from meterly.api.http import clock, settings, unit_of_work
from meterly.domain.errors import DomainError, NotFound, ValidationFailed
from meterly.services import operators
from meterly.web import auth
from meterly.web.dashboard.common import _not_found, _page, section_router

router = section_router()

_INVALID = {
    "email": "Enter a valid e-mail address.",
    "role": "Choose a role: admin, finance or viewer.",
}


def _back(message: str) -> Response:
    return RedirectResponse(f"/dashboard/users?{urlencode({'message': message})}", status_code=303)


def _users_page(
    request: Request, who: auth.Operator, *, status: int = 200, **extra: object
) -> Response:
    with unit_of_work(request) as session:
        users = operators.list_users(session, organization_id=who.organization_id)
        invitations = operators.pending_invitations(
            session, organization_id=who.organization_id, clock=clock(request)
        )
        response = _page(
            request,
            who,
            "dashboard/users.html",
            users=users,
            invitations=invitations,
            roles=operators.ROLES,
            message=request.query_params.get("message"),
            **{"error": None, "invitation_link": None, "invited": "", "email": "", **extra},
        )
    response.status_code = status
    return response


@router.get("/users")
@auth.requires(operators.ADMIN)
def users(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize let only a signed-in admin through
    return _users_page(request, who)


@router.post("/users/invite")
async def invite(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form", status_code=400)
    try:
        with unit_of_work(request) as session:
            _, token = operators.invite(
                session,
                organization_id=who.organization_id,
                email=data.get("email", ""),
                role=data.get("role", ""),
                invited_by=who.label,
                clock=clock(request),
            )
    except ValidationFailed as exc:
        field = next(iter(exc.details), "email")
        codes = exc.details.get(field)
        error = (
            "An account with this e-mail already exists."
            if isinstance(codes, list) and "value_already_exist" in codes
            else _INVALID.get(field, "Not valid.")
        )
        return _users_page(request, who, status=422, error=error, email=data.get("email", ""))
    link = f"{settings(request).public_url.rstrip('/')}/dashboard/invitations/{token}"
    # The link is shown once: only its hash is stored. The admin sends it to the invitee.
    return _users_page(request, who, invitation_link=link, invited=data.get("email", ""))


@router.post("/users/invitations/{invitation_id}/revoke")
async def revoke_invitation(invitation_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form", status_code=400)
    try:
        with unit_of_work(request) as session:
            operators.revoke(
                session,
                organization_id=who.organization_id,
                invitation_id=invitation_id,
                clock=clock(request),
            )
    except NotFound:
        return _not_found(request, who, "invitation")
    except DomainError as exc:
        return _back(f"Not done: {exc}")
    return _back("Invitation revoked.")


@router.post("/users/{user_id}/{action}")
async def user_action(user_id: str, action: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data) or action not in ("role", "remove", "sign_out"):
        return Response("Invalid form", status_code=400)
    try:
        with unit_of_work(request) as session:
            user = operators.find_user(
                session, organization_id=who.organization_id, user_id=user_id
            )
            email = user.email
            if action == "role":
                operators.change_role(
                    session, user=user, role=data.get("role", ""), clock=clock(request)
                )
                message = f"{email} is now {user.role}."
            elif action == "remove":
                operators.remove_user(session, user=user)
                message = f"{email} was removed."
            else:
                operators.sign_out_everywhere(user, clock=clock(request))
                message = f"{email} was signed out everywhere."
    except NotFound:
        return _not_found(request, who, "user")
    except ValidationFailed:
        return _back("Not done: choose a role: admin, finance or viewer.")
    except DomainError as exc:
        return _back(f"Not done: {exc}")
    return _back(message)
