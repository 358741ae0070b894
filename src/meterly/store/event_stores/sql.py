"""ClickHouse literals: every value reaches the SQL text through these functions.

String literals escape the backslash and the quote (ClickHouse's rules), so no input can
end a literal early; identifiers are checked, not escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


def text(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def texts(values: Iterable[str]) -> str:
    """A parenthesized list for IN (never empty: an empty list matches nothing)."""
    quoted = [text(v) for v in values]
    return "(" + ", ".join(quoted) + ")" if quoted else "(NULL)"


_NO_OFFSET = timedelta(0)


def instant_text(moment: datetime) -> str:
    """An aware datetime as ClickHouse's UTC text with microseconds."""
    if moment.utcoffset() != _NO_OFFSET:
        moment = moment.astimezone(UTC)
    # `YYYY-MM-DD HH:MM:SS.ffffff`, without the offset (always +00:00 here).
    return moment.isoformat(" ", "microseconds")[:26]


def instant(moment: datetime) -> str:
    return f"toDateTime64({text(instant_text(moment))}, 6, 'UTC')"


def parse_instant(value: str) -> datetime:
    """ClickHouse's `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC) as an aware datetime."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def decimal_or_none(value: object) -> Decimal | None:
    """A quoted decimal from the JSON output (ClickHouse prints no trailing zeros)."""
    return None if value is None else Decimal(str(value))
