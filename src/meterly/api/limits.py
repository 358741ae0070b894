"""Every bound on what a client may send, in one place: numbers, strings, nesting, time.

The API checks these at the edge, before any service sees the request, so nothing out of
range is ever stored (a 30-digit amount once answered 500 on every later read). The walk
below runs over every parsed JSON body (the ingestion lane's too, via `http.parse_json`)
and over the query string of every /api request; what it finds becomes one Lago 422
(`validation_errors`, with `error_details` naming each field and `value_is_*` codes).

A field's family comes from its name, so the bound is the same wherever the field
appears (`amount_cents` of a plan, of a usage threshold, of a one-off fee):

- money and quantities (`amount`, `rate`, `*_amount_cents`, `paid_credits`, ...): finite
  decimals with |x| < 10^15 and at most 15 fractional digits, what Lago's numeric columns
  hold; numbers anywhere else (not inside an event's `properties`) have |x| < 10^15 too;
- day counts: `net_payment_term` and `invoice_grace_period` 0..365, `trial_period`
  0..3650, `frequency_duration` 0..1200, `rounding_precision` 0..15;
- instants and dates (`*_at`, `*_date`, `*_from`/`*_to` filters): years 1970..9999 once
  converted to UTC (`9999-12-31T23:59:59-14:00` is past it);
- strings: identifiers and codes 255 characters without control characters (and without
  `/` for the ids and codes that name a resource in a URL: it could never be fetched),
  names 255, URLs 2,048, any other text 10,000 with tabs and newlines allowed; NUL and the
  other control characters are refused everywhere (PostgreSQL cannot store NUL);
- bodies nest at most 32 levels; `page` at most 1,000,000 (below 1 is the first page) and
  `per_page` is capped at 1,000.

Body sizes (413; `METERLY_MAX_BODY_BYTES`, `METERLY_MAX_EVENTS_BODY_BYTES`) and content
types (415 unless `application/json`) are checked before parsing, in api/request_guard.py.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from meterly.config import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EVENTS_BODY_BYTES
from meterly.domain.errors import ValidationFailed

MONEY_BOUND = Decimal(10) ** 15  # |x| < 10^15: numeric(30,15) holds it
_INT_BOUND = 10**15
MONEY_FRACTION_DIGITS = 15
IDENTIFIER_MAX = 255
NAME_MAX = 255
URL_MAX = 2048
TEXT_MAX = 10_000
KEY_MAX = 255  # keys of free-form objects: event properties, metadata
MAX_DEPTH = 32
PAGE_MAX = 1_000_000
PER_PAGE_MAX = 1000
FIRST_YEAR, LAST_YEAR = 1970, 9999
# Bodies: 1 MiB, the events lane 4 MiB (its own ceiling too); configurable, see config.
BODY_BYTES, EVENTS_BODY_BYTES = DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EVENTS_BODY_BYTES
_MAX_ERRORS = 20  # a hostile body does not get a megabyte of error details back

INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "net_payment_term": (0, 365),
    "invoice_grace_period": (0, 365),
    "trial_period": (0, 3650),
    "frequency_duration": (0, 1200),
    "rounding_precision": (0, 15),
}
MONEY_FIELDS = frozenset(
    {
        "amount",
        "amount_cents",
        "fixed_amount",
        "flat_amount",
        "per_unit_amount",
        "per_transaction_max_amount",
        "per_transaction_min_amount",
        "rate",
        "percentage_rate",
        "tax_rate",
        "free_units",
        "free_units_per_events",
        "free_units_per_total_aggregation",
        "package_size",
        "from_value",
        "to_value",
        "units",
        "credits",
        "rate_amount",
        "target_ongoing_balance",
        "precise_total_amount_cents",
        "precise_amount_cents",
        "amount_from",
        "amount_to",
    }
)
_MONEY_SUFFIXES = ("_amount_cents", "_credits", "_amount")
_INSTANT_SUFFIXES = ("_at", "_date", "_from", "_to")
# Names a resource in a URL (`/customers/{external_id}`, `/plans/{code}`): a `/` in it
# could be created and never fetched, so it is refused at creation.
_ADDRESSABLE = frozenset({"external_id", "code", "external_customer_id", "plan_code"})
_NAMES = frozenset(
    {
        "name",
        "firstname",
        "lastname",
        "legal_name",
        "legal_number",
        "tax_identification_number",
        "email",
        "phone",
        "address_line1",
        "address_line2",
        "city",
        "state",
        "zipcode",
        "key",
        "search_term",
    }
)
_IDENTIFIERS = frozenset(
    {
        "code",
        "external_id",
        "transaction_id",
        "currency",
        "timezone",
        "country",
        "document_locale",
        "status",
        "interval",
        "charge_model",
        "aggregation_type",
        "field_name",
        "billing_time",
        "payment_status",
        "customer_type",
        "account_type",
    }
)
# Keys whose subtree is the client's own data (event properties): strings are bounded and
# clean, numbers are left as sent (Lago aggregates whatever a property holds).
_FREE_FORM = "properties"

MONEY, INTEGER, INSTANT, IDENTIFIER, NAME, URL, TEXT = (
    "money",
    "integer",
    "instant",
    "identifier",
    "name",
    "url",
    "text",
)
_STRING_MAX = {IDENTIFIER: IDENTIFIER_MAX, NAME: NAME_MAX, URL: URL_MAX}


@functools.lru_cache(maxsize=4096)
def family(key: str, parent: str | None = None) -> str:
    """The family a field belongs to, from its name (and its list's, for `value`)."""
    if key in INTEGER_RANGES:
        return INTEGER
    if key in MONEY_FIELDS or key.endswith(_MONEY_SUFFIXES):
        return MONEY
    if key == "value" and parent in ("thresholds", "usage_thresholds"):
        return MONEY
    if key.endswith(_INSTANT_SUFFIXES):  # an event's `timestamp` is epoch seconds: ingest's
        return INSTANT
    if key in _IDENTIFIERS or key.endswith(("_id", "_ids", "_code", "_codes", "_currency")):
        return IDENTIFIER
    if key == "url" or key.endswith("_url"):
        return URL
    if key in _NAMES or key.endswith("_name"):
        return NAME
    return TEXT


# --- single values ------------------------------------------------------------------------


# C0 controls and DEL; free text keeps tabs and line breaks. A regular expression: this
# runs over every string of every event on the ingestion path.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_WHITESPACE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_characters(text: str, *, allow_whitespace: bool) -> bool:
    pattern = _CONTROL_BUT_WHITESPACE if allow_whitespace else _CONTROL
    return pattern.search(text) is not None


def string_problem(text: str, kind: str, *, addressable: bool = False) -> str | None:
    limit = _STRING_MAX.get(kind, TEXT_MAX)
    if len(text) > limit:
        return "value_is_too_long"
    if has_control_characters(text, allow_whitespace=kind == TEXT):
        return "value_is_invalid"
    if addressable and "/" in text:
        return "value_is_invalid"
    return None


def decimal_of(value: object) -> Decimal | None:
    """A number or numeric string as a Decimal; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except (InvalidOperation, ValueError):
            return None
    return None


def money_problem(value: Decimal) -> str | None:
    """Finite, |x| < 10^15, at most 15 significant fractional digits."""
    if not _within_bound(value):
        return "value_is_out_of_range"
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN and infinities were refused above
        return "value_is_out_of_range"
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if exponent + trailing < -MONEY_FRACTION_DIGITS and any(digits):
        return "value_is_out_of_range"
    return None


def _within_bound(value: Decimal) -> bool:
    """Finite and |x| < 10^15, judged from the exponent (no arithmetic can overflow)."""
    return value.is_finite() and (value.is_zero() or value.adjusted() < 15)


def integer_problem(key: str, value: Decimal) -> str | None:
    low, high = INTEGER_RANGES[key]
    if not value.is_finite() or value > high:
        return "value_is_out_of_range"
    if value < low:  # what Lago answers for a negative period
        return "value_is_invalid"
    return None


def instant_problem(text: str) -> str | None:
    """An ISO date or date-time outside years 1970..9999 (UTC); other text is not judged."""
    text = text.strip()
    if len(text) < 10 or text[4] != "-":
        return None  # not `YYYY-...`: the field's own validation answers
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None  # not an instant: the field's own validation answers
    try:
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
    except OverflowError:
        return "value_is_out_of_range"
    return None if FIRST_YEAR <= moment.year <= LAST_YEAR else "value_is_out_of_range"


# --- bodies -------------------------------------------------------------------------------


def check_body(body: Any) -> None:
    """Raise Lago's 422 for anything in a parsed JSON body outside its bounds."""
    found: list[tuple[tuple[str, ...], str]] = []
    _walk(body, (), None, None, 0, False, False, found)
    if found:
        raise ValidationFailed(_details(found[:_MAX_ERRORS]))


def _walk(
    value: Any,
    path: tuple[str, ...],
    key: str | None,
    parent: str | None,
    depth: int,
    free_form: bool,
    events: bool,
    found: list[tuple[tuple[str, ...], str]],
) -> None:
    """Append each problem under `value` to `found` (plain recursion: this is per event)."""
    if len(found) >= _MAX_ERRORS:
        return
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            found.append((path, "value_is_too_deep"))
            return
        for child_key, child in value.items():
            if depth == 0 and child_key in ("event", "events"):
                events = True
            if not _key_ok(child_key):
                found.append(((*path, child_key[:KEY_MAX]), "key_is_invalid"))
                continue
            inner = free_form or (events and child_key == _FREE_FORM)
            _walk(child, (*path, child_key), child_key, key, depth + 1, inner, events, found)
    elif isinstance(value, list):
        if depth >= MAX_DEPTH:
            found.append((path, "value_is_too_deep"))
            return
        for index, item in enumerate(value):
            _walk(item, (*path, str(index)), key, parent, depth + 1, free_form, events, found)
    elif value is None or value is True or value is False:
        return
    else:
        problem = _value_problem(value, key, parent, free_form=free_form, events=events)
        if problem is not None:
            found.append((path, problem))


@functools.lru_cache(maxsize=4096)
def _key_ok(key: str) -> bool:
    return string_problem(key, IDENTIFIER) is None


def _value_problem(
    value: str | int | float,
    key: str | None,
    parent: str | None,
    *,
    free_form: bool,
    events: bool,
) -> str | None:
    kind = TEXT if free_form or key is None else family(key, parent)
    if isinstance(value, str):
        addressable = not events and key in _ADDRESSABLE
        problem = string_problem(value, kind, addressable=addressable)
        if problem is not None:
            return problem
        if kind == INSTANT and not free_form:
            return instant_problem(value)
        if kind not in (MONEY, INTEGER):
            return None
    if kind in (MONEY, INTEGER):
        number = decimal_of(value)
        if number is None:
            return None  # not a number: the field's own validation answers
        return money_problem(number) if kind == MONEY else integer_problem(str(key), number)
    if free_form:
        return None
    # Any other number: finite and |x| < 10^15 (a float past a double is already refused).
    if isinstance(value, int) and not -_INT_BOUND < value < _INT_BOUND:
        return "value_is_out_of_range"
    if isinstance(value, float) and not (math.isfinite(value) and abs(value) < _INT_BOUND):
        return "value_is_out_of_range"
    return None


def _details(found: Iterable[tuple[tuple[str, ...], str]]) -> dict[str, Any]:
    """Lago's error_details: field names without the root key; batch events by index."""
    details: dict[str, Any] = {}
    for path, code in found:
        if len(path) >= 3 and path[0] == "events" and path[1].isdigit():
            per_event = details.setdefault(path[1], {})
            if isinstance(per_event, dict):
                per_event.setdefault(".".join(path[2:]), []).append(code)
                continue
        name = ".".join(path[1:]) if len(path) > 1 else ".".join(path) or "base"
        if not isinstance(details.setdefault(name, []), list):
            # Another root's "0" next to batch event 0 (found by the OpenAPI fuzz run).
            name = ".".join(path)
        details.setdefault(name, []).append(code)
    return details


# --- query strings ------------------------------------------------------------------------


def check_query(pairs: Iterable[tuple[str, str]]) -> None:
    """Raise Lago's 422 for a query parameter outside its bounds."""
    details: dict[str, list[str]] = {}
    for raw_key, value in pairs:
        problem = _query_problem(raw_key, value)
        if problem is not None:
            details.setdefault(raw_key[:KEY_MAX], []).append(problem)
    if details:
        raise ValidationFailed(details)


def _query_problem(raw_key: str, value: str) -> str | None:
    if has_control_characters(raw_key + value, allow_whitespace=False):
        return "value_is_invalid"
    if len(value) > TEXT_MAX:
        return "value_is_too_long"
    key = raw_key.split("[", 1)[0]
    if key in ("page", "per_page"):
        number = decimal_of(value)
        if number is None or not number.is_finite():
            return "value_is_invalid"
        # Pages below 1 read as the first, as Lago's pagination does; past a million, no.
        if key == "page" and not (_within_bound(number) and number <= PAGE_MAX):
            return "value_is_out_of_range"
        if _within_bound(number) and number != number.to_integral_value():
            return "value_is_invalid"
        return None
    kind = family(key)
    if kind == MONEY or key in ("amount_from", "amount_to"):
        number = decimal_of(value)
        return None if number is None else money_problem(number)
    if kind == INSTANT and value:
        return instant_problem(value)
    return None
