"""Document languages: translated labels and Babel's number, date and currency formats.

`document_locale` (the customer's, else the organization's) picks a catalogue here; any
locale Babel knows formats numbers and dates, and labels fall back to English for a
language not shipped (the first part of `pt_BR` picks `pt`).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from meterly.domain.money import currency
from meterly.services.documents.labels import LABELS, SHIPPED
from meterly.services.documents.labels_portal import PORTAL_LABELS

Day = date  # the `date` method below would shadow the type inside the class
_ALL_LABELS = {**LABELS, **PORTAL_LABELS}

# How domain/pricing labels a tier (English, with thousands commas).
_NUMBER = r"(\d[\d,]*(?:\.\d+)?)"
_RANGE = re.compile(rf"^{_NUMBER} – {_NUMBER}$")
_AND_ABOVE = re.compile(rf"^{_NUMBER} and above$")


def language(locale: str | None) -> str:
    """The shipped catalogue for a locale tag: `fr_CA` and `fr-CA` pick `fr`."""
    lang = (locale or "en").replace("-", "_").split("_")[0].lower()
    return lang if lang in SHIPPED else "en"


def babel_locale(locale: str | None) -> Locale:
    try:
        return Locale.parse((locale or "en").replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def label(key: str, locale: str | None, **values: object) -> str:
    text = _ALL_LABELS[key][SHIPPED.index(language(locale))]
    return text.format(**values) if values else text


class Formatter:
    """The labels, numbers, amounts and dates of one document language."""

    def __init__(self, locale: str | None, currency: str, exponent: int) -> None:
        self.locale = babel_locale(locale)
        self.locale_tag = locale
        self.code = language(locale)
        self.currency = currency
        self.exponent = exponent

    def t(self, key: str, **values: object) -> str:
        return label(key, self.code, **values)

    def money(self, cents: int) -> str:
        """Integer minor units: 1 234,50 €, ¥1,000, KWD 1.234."""
        amount = Decimal(cents).scaleb(-self.exponent)
        return self._spaced(format_currency(amount, self.currency, locale=self.locale))

    def negative(self, cents: int) -> str:
        return self.money(-cents)

    def price(self, value: Decimal) -> str:
        """A major-unit price already rounded for display: its digits all print."""
        return self._spaced(
            format_currency(value, self.currency, locale=self.locale, decimal_quantization=False)
        )

    def _spaced(self, text: str) -> str:
        """Where the locale has no symbol, Babel glues the code to the number (KWD1.575):
        a no-break space reads better (KWD 1.575, 1.575 KWD)."""
        code = re.escape(self.currency)
        text = re.sub(rf"{code}(?=[\d-])", f"{self.currency}\xa0", text)
        return re.sub(rf"(?<=\d){code}", f"\xa0{self.currency}", text)

    def number(self, value: Decimal) -> str:
        return format_decimal(value.normalize(), locale=self.locale, decimal_quantization=False)

    def percent(self, value: Decimal) -> str:
        return format_decimal(value.normalize(), locale=self.locale, decimal_quantization=False)

    def tier_label(self, text: str) -> str:
        """The engine's English tier labels, in the document's language when known:
        `1,001 – 5,000`, `5,001 and above`, `Per unit`; others print as they are."""
        if text == "Per unit":
            return self.t("per_unit")
        if match := _AND_ABOVE.match(text):
            return self.t("and_above", start=self._count(match[1]))
        if match := _RANGE.match(text):
            return f"{self._count(match[1])} – {self._count(match[2])}"
        return text

    def _count(self, english: str) -> str:
        return self.number(Decimal(english.replace(",", "")))

    def money_in(self, cents: int, currency_code: str) -> str:
        """Minor units of another currency than the formatter's (a customer's wallet or
        invoice in a second currency), in the same language."""
        other = Formatter(self.locale_tag, currency_code, currency(currency_code).exponent)
        return other.money(cents)

    def date(self, value: Day | None) -> str:
        return format_date(value, format="medium", locale=self.locale) if value else ""

    def period(self, start: Day | None, end: Day | None) -> str:
        if start is None or end is None:
            return ""
        return f"{self.date(start)} – {self.date(end)}"
