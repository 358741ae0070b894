"""Jinja2 templates of the portal and the dashboard, and the filters they use."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
import orjson
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from meterly.domain.money import currency as find_currency

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"


def money(cents: int | Decimal | None, code: str | None = None) -> str:
    """Minor units as a major-unit amount with its currency: 1234 USD -> `12.34 USD`."""
    if cents is None:
        return "—"
    code = code or "USD"
    try:
        exponent = find_currency(code).exponent
    except Exception:
        exponent = 2
    value = Decimal(cents).scaleb(-exponent)
    return f"{value:,.{exponent}f} {code}"


def number(value: Decimal | int | str | None) -> str:
    if value is None:
        return "—"
    dec = Decimal(str(value))
    if dec == dec.to_integral_value():
        return f"{dec:,.0f}"
    return f"{dec.normalize():,f}"


def day(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def to_json(value: Any) -> Markup:
    """JSON safe inside a <script type="application/json"> element."""
    text = orjson.dumps(value, default=_default).decode()
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)
environment.filters["money"] = money
environment.filters["number"] = number
environment.filters["day"] = day
environment.filters["tojson_safe"] = to_json


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = environment.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code)
