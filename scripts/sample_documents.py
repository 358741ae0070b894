"""Write sample documents to var/samples/: what Meterly's invoices and credit notes look like.

    .venv/bin/python scripts/sample_documents.py [--out var/samples]

Each sample is billed by the real engine through the HTTP API, on a throwaway SQLite
database (deleted afterwards), one organization per seller:

- invoice-en.pdf, invoice-en-ubl.xml: an Irish seller, an English invoice in USD
  (UBL 2.1 / Peppol BIS 3.0 beside a Factur-X PDF);
- invoice-fr-facturx.pdf, invoice-fr-facturx.xml: a French seller, a French invoice in
  EUR, the PDF a Factur-X PDF/A-3 carrying the XML;
- credit-note-de-xrechnung.pdf, credit-note-de-xrechnung.xml: a German seller, a German
  credit note, XRechnung 3.0 (CII);
- invoice-jpy.pdf, invoice-jpy-ubl.xml: a Japanese seller, an invoice in yen (no minor
  unit).

The samples are generated, not committed (var/ is ignored by git).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from meterly.api.app import create_app
from meterly.config import Settings
from meterly.services import runs
from meterly.services.accounts import create_organization
from meterly.services.common import FrozenClock
from meterly.store.engine import create_engine
from meterly.store.schema import upgrade
from meterly.store.uow import Database

DEFAULT_OUT = Path("var/samples")
# November 2026 is billed: every subscription starts on 1 November (UTC) and the run
# happens on 1 December at 06:00 UTC, after the end of November in Paris, Berlin, Tokyo.
STARTED = "2026-11-01T00:00:00Z"
EVENTS_AT = datetime(2026, 11, 10, 12, tzinfo=UTC)
BILLED_AT = datetime(2026, 12, 1, 6, tzinfo=UTC)


@dataclass
class Seller:
    """One organization of the throwaway database, spoken to with its own API key."""

    client: TestClient
    key: str

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.client.request(
            method,
            f"/api/v1/{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.key}"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        answer: dict[str, Any] = response.json()
        return answer

    def fetch(self, url: str) -> bytes:
        """A signed file link (no API key), or an API path."""
        path = url.split("://", 1)[-1].split("/", 1)[1] if "://" in url else f"api/v1/{url}"
        headers = {} if "://" in url else {"Authorization": f"Bearer {self.key}"}
        response = self.client.get(f"/{path}", headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code}")
        content: bytes = response.content
        return content


def _seller(client: TestClient, database: Database, clock: FrozenClock, name: str) -> Seller:
    with database.unit_of_work() as session:
        _, key = create_organization(session, name=name, clock=clock)
        secret = key.secret
    return Seller(client, secret)


def _catalogue(
    seller: Seller,
    *,
    currency: str,
    tax: tuple[str, str],
    plan_cents: int,
    charge: dict[str, Any] | None,
) -> None:
    name, rate = tax
    seller.call("POST", "taxes", {"tax": {"name": name, "code": "vat", "rate": rate}})
    charges: list[dict[str, Any]] = []
    if charge is not None:
        metric = {
            "name": "API calls",
            "code": "api_calls",
            "aggregation_type": "sum_agg",
            "field_name": "calls",
        }
        metric_id = seller.call("POST", "billable_metrics", {"billable_metric": metric})[
            "billable_metric"
        ]["lago_id"]
        charges.append({"billable_metric_id": metric_id, **charge})
    plan = {
        "name": "Growth",
        "code": "growth",
        "interval": "monthly",
        "amount_cents": plan_cents,
        "amount_currency": currency,
        "pay_in_advance": False,
        "tax_codes": ["vat"],
        "charges": charges,
    }
    seller.call("POST", "plans", {"plan": plan})


def _customer(seller: Seller, body: dict[str, Any], calls: int | None) -> None:
    seller.call("POST", "customers", {"customer": body})
    external_id = body["external_id"]
    subscription = {
        "external_customer_id": external_id,
        "plan_code": "growth",
        "external_id": f"{external_id}-growth",
        "billing_time": "calendar",
        "subscription_at": STARTED,
    }
    seller.call("POST", "subscriptions", {"subscription": subscription})
    if calls:
        event = {
            "transaction_id": f"{external_id}-calls",
            "external_subscription_id": f"{external_id}-growth",
            "code": "api_calls",
            "timestamp": str(int(EVENTS_AT.timestamp())),
            "properties": {"calls": calls},
        }
        seller.call("POST", "events", {"event": event})


def _invoice(seller: Seller, external_id: str) -> dict[str, Any]:
    found = seller.call("GET", f"invoices?external_customer_id={external_id}")["invoices"]
    (invoice,) = found
    return invoice  # type: ignore[no-any-return]


def _profile(country: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "country": country, "einvoicing": True, **extra}


def _setup(client: TestClient, database: Database, clock: FrozenClock) -> dict[str, Seller]:
    """Four sellers and their customers, with November's usage recorded."""
    en = _seller(client, database, clock, "Northwind Metering")
    en.call(
        "PUT",
        "organizations",
        {
            "organization": _profile(
                "IE",
                "Northwind Metering Ltd",
                legal_name="Northwind Metering Limited",
                legal_number="IE654321",
                tax_identification_number="IE6388047V",
                address_line1="1 Grand Canal Square",
                city="Dublin",
                zipcode="D02 P820",
                email="billing@northwind.example",
            )
        },
    )
    # 49.00 a month, and API calls: the first 1,000 free, then 0.002 each.
    ladder = [
        {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
        {"from_value": 1001, "to_value": None, "per_unit_amount": "0.002", "flat_amount": "0"},
    ]
    _catalogue(
        en,
        currency="USD",
        tax=("VAT", "20"),
        plan_cents=4900,
        charge={"charge_model": "graduated", "properties": {"graduated_ranges": ladder}},
    )
    _customer(
        en,
        {
            "external_id": "globex",
            "name": "Globex Corporation",
            "currency": "USD",
            "country": "US",
            "address_line1": "500 Oak Street",
            "city": "Springfield",
            "zipcode": "97477",
            "state": "OR",
            "email": "ap@globex.example",
            "timezone": "UTC",
            "tax_codes": ["vat"],
        },
        12_500,
    )

    fr = _seller(client, database, clock, "Mesure SAS")
    fr.call(
        "PUT",
        "organizations",
        {
            "organization": _profile(
                "FR",
                "Mesure SAS",
                legal_name="Mesure SAS",
                legal_number="123456789",
                tax_identification_number="FR40123456789",
                address_line1="10 rue de la Paix",
                city="Paris",
                zipcode="75002",
                email="facturation@mesure.example",
                timezone="Europe/Paris",
            )
        },
    )
    _catalogue(
        fr,
        currency="EUR",
        tax=("TVA", "20"),
        plan_cents=2900,
        charge={"charge_model": "standard", "properties": {"amount": "0.01"}},
    )
    _customer(
        fr,
        {
            "external_id": "boulangerie",
            "name": "Boulangerie Dupont SARL",
            "currency": "EUR",
            "country": "FR",
            "address_line1": "2 avenue Foch",
            "city": "Lyon",
            "zipcode": "69006",
            "legal_number": "987654321",
            "tax_identification_number": "FR12987654321",
            "email": "compta@dupont.example",
            "timezone": "Europe/Paris",
            "billing_configuration": {"document_locale": "fr"},
            "tax_codes": ["vat"],
        },
        3_000,
    )

    de = _seller(client, database, clock, "Messwerk GmbH")
    de.call(
        "PUT",
        "organizations",
        {
            "organization": _profile(
                "DE",
                "Messwerk GmbH",
                legal_name="Messwerk GmbH",
                legal_number="HRB 123456",
                tax_identification_number="DE123456789",
                address_line1="Unter den Linden 1",
                city="Berlin",
                zipcode="10117",
                email="rechnung@messwerk.example",
                timezone="Europe/Berlin",
            )
        },
    )
    _catalogue(de, currency="EUR", tax=("MwSt", "19"), plan_cents=10000, charge=None)
    _customer(
        de,
        {
            "external_id": "kunde",
            "name": "Beispiel AG",
            "currency": "EUR",
            "country": "DE",
            "address_line1": "Marienplatz 8",
            "city": "München",
            "zipcode": "80331",
            "tax_identification_number": "DE987654321",
            "email": "buchhaltung@beispiel.example",
            "timezone": "Europe/Berlin",
            "billing_configuration": {"document_locale": "de"},
            "tax_codes": ["vat"],
        },
        None,
    )

    jp = _seller(client, database, clock, "Keisoku KK")
    jp.call(
        "PUT",
        "organizations",
        {
            "organization": _profile(
                "JP",
                "Keisoku KK",
                legal_name="Keisoku Kabushiki Kaisha",
                tax_identification_number="T1234567890123",
                address_line1="1-1 Marunouchi, Chiyoda-ku",
                city="Tokyo",
                zipcode="100-0005",
                email="seikyu@keisoku.example",
                timezone="Asia/Tokyo",
            )
        },
    )
    # The yen has no minor unit: amounts in "cents" are yen.
    _catalogue(
        jp,
        currency="JPY",
        tax=("Consumption tax", "10"),
        plan_cents=5000,
        charge={"charge_model": "standard", "properties": {"amount": "2"}},
    )
    _customer(
        jp,
        {
            "external_id": "sakura",
            "name": "Sakura Trading Co.",
            "currency": "JPY",
            "country": "JP",
            "address_line1": "2-2 Umeda, Kita-ku",
            "city": "Osaka",
            "zipcode": "530-0001",
            "timezone": "Asia/Tokyo",
            "tax_codes": ["vat"],
        },
        1_234,
    )
    return {"en": en, "fr": fr, "de": de, "jp": jp}


def _invoice_files(seller: Seller, external_id: str) -> tuple[bytes, bytes]:
    invoice = _invoice(seller, external_id)
    downloaded = seller.call("POST", f"invoices/{invoice['lago_id']}/download")["invoice"]
    pdf = seller.fetch(downloaded["file_url"])
    return pdf, seller.fetch(f"invoices/{invoice['lago_id']}/download_xml")


def _credit_note_files(seller: Seller, external_id: str) -> tuple[bytes, bytes]:
    """Half of the November subscription fee credited back: 50.00 + 19 % = 59.50."""
    invoice = seller.call("GET", f"invoices/{_invoice(seller, external_id)['lago_id']}")["invoice"]
    fee = next(f for f in invoice["fees"] if f["item"]["type"] == "subscription")
    note = {
        "invoice_id": invoice["lago_id"],
        "reason": "order_change",
        "description": "Plan reduced mid-month",
        "credit_amount_cents": 5950,
        "refund_amount_cents": 0,
        "items": [{"fee_id": fee["lago_id"], "amount_cents": 5000}],
    }
    created = seller.call("POST", "credit_notes", {"credit_note": note})["credit_note"]
    downloaded = seller.call("POST", f"credit_notes/{created['lago_id']}/download")
    pdf = seller.fetch(downloaded["credit_note"]["file_url"])
    return pdf, seller.fetch(f"credit_notes/{created['lago_id']}/download_xml")


@contextmanager
def _files_dir(directory: Path) -> Iterator[None]:
    """PDFs the API stores go to the throwaway directory, not the real files directory."""
    before = os.environ.get("METERLY_FILES_DIR")
    os.environ["METERLY_FILES_DIR"] = str(directory)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("METERLY_FILES_DIR", None)
        else:
            os.environ["METERLY_FILES_DIR"] = before


def write_samples(out: Path) -> list[Path]:
    """Bill the four samples and write their PDFs and XML under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="meterly-samples-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'samples.db'}"
        database = Database(create_engine(url))
        upgrade(database.engine)
        clock = FrozenClock(datetime(2026, 11, 20, tzinfo=UTC))
        app = create_app(
            Settings(database_url=url, public_url="https://billing.example"),
            database=database,
            clock=clock,
        )
        try:
            with _files_dir(Path(scratch) / "files"), TestClient(app) as client:
                sellers = _setup(client, database, clock)
                report = runs.run(database, as_of=BILLED_AT, clock=FrozenClock(BILLED_AT))
                if report.errors:
                    raise RuntimeError(f"billing failed: {report.errors}")
                clock.set(BILLED_AT)
                files = {
                    "invoice-en": _invoice_files(sellers["en"], "globex"),
                    "invoice-fr-facturx": _invoice_files(sellers["fr"], "boulangerie"),
                    "credit-note-de-xrechnung": _credit_note_files(sellers["de"], "kunde"),
                    "invoice-jpy": _invoice_files(sellers["jp"], "sakura"),
                }
        finally:
            database.engine.dispose()
    written: list[Path] = []
    xml_names = {"invoice-en": "invoice-en-ubl", "invoice-jpy": "invoice-jpy-ubl"}
    for stem, (pdf, xml) in files.items():
        for path, data in (
            (out / f"{stem}.pdf", pdf),
            (out / f"{xml_names.get(stem, stem)}.xml", xml),
        ):
            path.write_bytes(data)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: var/samples")
    args = parser.parse_args(argv)
    for path in write_samples(args.out):
        print(f"{path}  {path.stat().st_size:>8} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
