"""What every dashboard page shares: its router, the sign-in redirect, page rendering.

Each section module builds its own router here and `meterly.web.dashboard` gathers them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from meterly.web import auth
from meterly.web.templating import render

PER_PAGE = 50


def section_router() -> APIRouter:
    # Each section carries the prefix itself: FastAPI refuses to include a router whose
    # route path ("" for the overview) and include prefix are both empty.
    # `auth.authorize` guards every route of every section: signed in, and a role allowed
    # to do what the route does (web/auth.py).
    return APIRouter(
        prefix="/dashboard", include_in_schema=False, dependencies=[Depends(auth.authorize)]
    )


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/dashboard/login?{urlencode({'next': target})}", status_code=303)


def _page(request: Request, who: auth.Operator, name: str, **context: Any) -> Response:
    return render(name, who=who, path=request.url.path, **context)


def _not_found(request: Request, who: auth.Operator, what: str) -> Response:
    return render("dashboard/not_found.html", status_code=404, who=who, path="", what=what)


def _int(value: str | None, default: int = 1) -> int:
    try:
        return max(int(value or default), 1)
    except ValueError:
        return default
