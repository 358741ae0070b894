"""Dashboard sign-in and sign-out: e-mail and password, or an API key (the first admin).

Also accepting an invitation (the invitee sets a password) and "sign out everywhere".
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import DomainError, NotFound, ValidationFailed
from meterly.services import operators
from meterly.web import auth
from meterly.web.dashboard.common import section_router
from meterly.web.templating import render

router = section_router()

BAD_CREDENTIALS = "This e-mail and password do not match an account."
BAD_KEY = "This API key is not valid."


def _target(raw: str | None) -> str:
    target = raw or "/dashboard"
    # Only back into the dashboard: never an open redirect ("//evil" is another host).
    if not target.startswith("/dashboard") or target.startswith("//"):
        return "/dashboard"
    return target


def _signed_in(request: Request, cookie: str, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        auth.COOKIE,
        cookie,
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/dashboard",
    )
    return response


def _login(status: int, error: str | None, target: str, email: str = "") -> Response:
    return render("dashboard/login.html", status_code=status, error=error, next=target, email=email)


@router.get("/login")
@auth.public
def login_page(request: Request) -> Response:
    return _login(200, None, _target(request.query_params.get("next")))


@router.post("/login")
@auth.public
async def login(request: Request) -> Response:
    data = await auth.form(request)
    target = _target(data.get("next"))
    if data.get("api_key"):
        cookie = auth.sign_in(request, data["api_key"])
        if cookie is None:
            return _login(401, BAD_KEY, target)
        return _signed_in(request, cookie, target)
    email = data.get("email", "")
    now = clock(request).now()
    with unit_of_work(request) as session:
        result = operators.sign_in(
            session,
            email=email,
            password=data.get("password", ""),
            address=auth.client_address(request),
            clock=clock(request),
            policy=operators.LockoutPolicy.from_env(),
        )
        cookie = auth.user_cookie(request, result.user) if result.user else None
    if result.locked_until is not None:
        minutes = result.wait_minutes(now)
        message = (
            "Too many failed sign-ins for this account or from this address. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )
        return _login(429, message, target, email)
    if cookie is None:
        return _login(401, BAD_CREDENTIALS, target, email)
    return _signed_in(request, cookie, target)


@router.post("/logout")
@auth.public
async def logout(request: Request) -> Response:
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/dashboard")
    return response


@router.post("/logout/everywhere")
@auth.requires(operators.READ)
async def logout_everywhere(request: Request) -> Response:
    """End every session of the signed-in person, on every device (this one included)."""
    who = auth.operator(request)
    data = await auth.form(request)
    if who is None or not auth.csrf_ok(who, data):
        return Response("Invalid form", status_code=400)
    if who.user_id is not None:
        with unit_of_work(request) as session:
            user = operators.find_user(
                session, organization_id=who.organization_id, user_id=who.user_id
            )
            operators.sign_out_everywhere(user, clock=clock(request))
    # An API-key session ends with its key (revoke it); this one ends here.
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/dashboard")
    return response


@router.get("/invitations/{token}")
@auth.public
def invitation_page(token: str, request: Request) -> Response:
    with unit_of_work(request) as session:
        try:
            row = operators.open_invitation(session, token=token, clock=clock(request))
        except NotFound:
            return render("dashboard/invitation.html", status_code=404, invitation=None, error=None)
        return render("dashboard/invitation.html", invitation=row, token=token, error=None)


@router.post("/invitations/{token}")
@auth.public
async def accept_invitation(token: str, request: Request) -> Response:
    data = await auth.form(request)
    password = data.get("password", "")
    if password != data.get("password_confirmation", ""):
        return _invitation_error(request, token, "The two passwords differ.")
    try:
        with unit_of_work(request) as session:
            user = operators.accept(session, token=token, password=password, clock=clock(request))
            cookie = auth.user_cookie(request, user)
    except NotFound:
        return render("dashboard/invitation.html", status_code=404, invitation=None, error=None)
    except ValidationFailed as exc:
        if "password" in exc.details:
            message = f"Choose a password of at least {operators.MIN_LENGTH} characters."
        else:
            message = "An account with this e-mail already exists."
        return _invitation_error(request, token, message)
    except DomainError as exc:
        return _invitation_error(request, token, f"Not done: {exc}")
    return _signed_in(request, cookie, "/dashboard")


def _invitation_error(request: Request, token: str, message: str) -> Response:
    with unit_of_work(request) as session:
        try:
            row = operators.open_invitation(session, token=token, clock=clock(request))
        except NotFound:
            return render("dashboard/invitation.html", status_code=404, invitation=None, error=None)
        return render(
            "dashboard/invitation.html", status_code=422, invitation=row, token=token, error=message
        )
