"""Dashboard sign-in and sign-out: an organization's API key exchanged for a session cookie."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from meterly.web import auth
from meterly.web.dashboard.common import section_router
from meterly.web.templating import render

router = section_router()


@router.get("/login")
def login_page(request: Request) -> Response:
    return render("dashboard/login.html", error=None, next=request.query_params.get("next", ""))


@router.post("/login")
async def login(request: Request) -> Response:
    data = await auth.form(request)
    cookie = auth.sign_in(request, data.get("api_key", ""))
    target = data.get("next") or "/dashboard"
    if not target.startswith("/dashboard"):
        target = "/dashboard"
    if cookie is None:
        return render(
            "dashboard/login.html", status_code=401, error="This API key is not valid.", next=target
        )
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


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/dashboard")
    return response
