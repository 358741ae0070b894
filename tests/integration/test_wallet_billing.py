"""Prepaid credits on invoices: billing scenarios on SQLite and PostgreSQL, to the cent.

The catalogue: a monthly calendar plan of 10.00 paid in arrears, `calls` at 10.00 per
package of 100, `logins` at 0.50 each, and (unless said otherwise) a 20 % VAT on the plan.
January with 250 calls and 10 logins bills 10.00 + 30.00 + 5.00 = 45.00 of fees and
9.00 of VAT: 54.00 (subscription 12.00, calls 36.00, logins 6.00 tax included).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from meterly.domain.invoicing import FeeLine, compute_invoice
from meterly.domain.money import currency
from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.services.credits import wallets as wallet_service
from meterly.store.tables import Invoice, Webhook
from meterly.store.tables_wallets import Wallet, WalletTransaction, WalletTransactionConsumption


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def setup(api: Any, *, cur: str = "EUR", tax: bool = True, grace: int | None = None) -> None:
    for code, name in (("calls", "Calls"), ("logins", "Logins")):
        response = api.post(
            "billable_metrics",
            {"billable_metric": {"name": name, "code": code, "aggregation_type": "count_agg"}},
        )
        assert response.status_code == 200, response.text
    metrics = {
        m["code"]: m["lago_id"] for m in api.get("billable_metrics").json()["billable_metrics"]
    }
    if tax:
        api.post("taxes", {"tax": {"name": "VAT", "code": "vat", "rate": 20.0}})
    plan: dict[str, Any] = {
        "name": "Monthly",
        "code": "plan",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": cur,
        "pay_in_advance": False,
        "charges": [
            {
                "billable_metric_id": metrics["calls"],
                "charge_model": "package",
                "properties": {"amount": "10", "package_size": 100, "free_units": 0},
            },
            {
                "billable_metric_id": metrics["logins"],
                "charge_model": "standard",
                "properties": {"amount": "0.5"},
            },
        ],
    }
    if tax:
        plan["tax_codes"] = ["vat"]
    assert api.post("plans", {"plan": plan}).status_code == 200
    customer: dict[str, Any] = {"external_id": "cust", "name": "Customer", "currency": cur}
    if grace is not None:
        customer["billing_configuration"] = {"invoice_grace_period": grace}
    assert api.post("customers", {"customer": customer}).status_code == 200
    response = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "cust",
                "plan_code": "plan",
                "external_id": "sub",
                "billing_time": "calendar",
                "subscription_at": at(2024, 1, 1).isoformat(),
            }
        },
    )
    assert response.status_code == 200, response.text


def send(api: Any, code: str, count: int, when: datetime, prefix: str) -> None:
    events = [
        {
            "transaction_id": f"{prefix}{i}",
            "external_subscription_id": "sub",
            "code": code,
            "timestamp": str(int(when.timestamp())),
        }
        for i in range(count)
    ]
    for start in range(0, len(events), 100):
        batch = {"events": events[start : start + 100]}
        assert api.post("events/batch", batch).status_code == 200


def january_usage(api: Any) -> None:
    send(api, "calls", 250, at(2024, 1, 10), "c")
    send(api, "logins", 10, at(2024, 1, 10), "l")


def wallet(api: Any, **fields: Any) -> str:
    body = {"external_customer_id": "cust", "rate_amount": "1", "currency": "EUR", **fields}
    response = api.post("wallets", {"wallet": body})
    assert response.status_code == 200, response.text
    wallet_id: str = response.json()["wallet"]["lago_id"]
    return wallet_id


def show(api: Any, wallet_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"wallets/{wallet_id}").json()["wallet"]
    return body


def bill(api: Any, as_of: datetime) -> runs.RunReport:
    report = runs.run(api.database, as_of=as_of, clock=FrozenClock(as_of))
    assert report.errors == []
    return report


def subscription_invoices(api: Any) -> list[Invoice]:
    with api.database.unit_of_work() as session:
        rows = session.scalars(
            select(Invoice)
            .where(Invoice.invoice_type == "subscription")
            .order_by(Invoice.issuing_date, Invoice.created_at)
        )
        return list(rows)


def transactions(api: Any, wallet_id: str, kind: str | None = None) -> list[WalletTransaction]:
    with api.database.unit_of_work() as session:
        query = select(WalletTransaction).where(WalletTransaction.wallet_id == wallet_id)
        if kind:
            query = query.where(WalletTransaction.transaction_status == kind)
        return list(session.scalars(query.order_by(WalletTransaction.position)))


def assert_ledger(api: Any, wallet_id: str) -> None:
    """The cached balance is the ledger's sum; no inbound transaction is spent twice."""
    with api.database.unit_of_work() as session:
        row = session.get(Wallet, wallet_id)
        assert row is not None
        ledger = wallet_service.ledger(session, wallet_id=wallet_id)
        assert (row.credits_balance, row.balance_cents) == (
            ledger.credits_balance,
            ledger.balance_cents,
        )
        assert (row.consumed_credits, row.consumed_amount_cents) == (
            ledger.consumed_credits,
            ledger.consumed_amount_cents,
        )
        assert row.balance_cents >= 0 and row.credits_balance >= 0
        assert_links(session, wallet_id)


def assert_links(session: Any, wallet_id: str) -> None:
    rows = list(
        session.scalars(select(WalletTransaction).where(WalletTransaction.wallet_id == wallet_id))
    )
    drawn_from: dict[str, int] = defaultdict(int)
    drawn_by: dict[str, int] = defaultdict(int)
    for link in session.scalars(select(WalletTransactionConsumption)):
        drawn_from[link.inbound_wallet_transaction_id] += link.consumed_amount_cents
        drawn_by[link.outbound_wallet_transaction_id] += link.consumed_amount_cents
    remaining = 0
    for tx in rows:
        if tx.transaction_type == "inbound" and tx.status == "settled":
            assert tx.remaining_amount_cents == tx.amount_cents - drawn_from[tx.id]
            assert 0 <= (tx.remaining_amount_cents or 0) <= tx.amount_cents
            remaining += tx.remaining_amount_cents or 0
        elif tx.transaction_type == "outbound":
            assert drawn_by[tx.id] == tx.amount_cents
    wallet = session.get(Wallet, wallet_id)
    assert remaining == wallet.balance_cents


# --- the waterfall ----------------------------------------------------------------------


def test_a_wallet_pays_the_tax_inclusive_total(api: Any) -> None:
    setup(api)
    january_usage(api)
    wallet_id = wallet(api, granted_credits="100")
    bill(api, at(2024, 2, 1, 1))
    (invoice,) = subscription_invoices(api)
    assert invoice.fees_amount_cents == 4500
    assert invoice.taxes_amount_cents == 900
    assert invoice.sub_total_including_taxes_amount_cents == 5400
    assert invoice.prepaid_credit_amount_cents == 5400
    assert invoice.total_amount_cents == 0
    assert invoice.payment_status == "succeeded"
    body = show(api, wallet_id)
    assert (body["balance_cents"], body["credits_balance"]) == (4600, "46.0")
    assert body["consumed_credits"] == "54.0"
    assert body["last_consumed_credit_at"] == "2024-02-01T01:00:00Z"
    (used,) = transactions(api, wallet_id, "invoiced")
    assert (used.amount_cents, used.credit_amount, used.invoice_id) == (5400, 54, invoice.id)
    assert (used.transaction_type, used.status) == ("outbound", "settled")
    assert invoice.breakdown["wallets"] == [
        {"wallet_id": wallet_id, "amount_cents": 5400, "credit_amount": "54.00"}
    ]
    assert_ledger(api, wallet_id)


def test_priority_one_is_drawn_first(api: Any) -> None:
    setup(api)
    january_usage(api)
    older = wallet(api, code="older", granted_credits="30")  # priority 50 by default
    first = wallet(api, code="first", granted_credits="40", priority=1)
    bill(api, at(2024, 2, 1, 1))
    (invoice,) = subscription_invoices(api)
    assert invoice.prepaid_credit_amount_cents == 5400
    assert [t.amount_cents for t in transactions(api, first, "invoiced")] == [4000]
    assert [t.amount_cents for t in transactions(api, older, "invoiced")] == [1400]
    assert show(api, first)["balance_cents"] == 0
    assert show(api, older)["balance_cents"] == 1600
    assert_ledger(api, first)
    assert_ledger(api, older)


def test_a_wallet_limited_to_charges_pays_only_charge_fees(api: Any) -> None:
    setup(api)
    january_usage(api)
    wallet_id = wallet(api, granted_credits="100", applies_to={"fee_types": ["charge"]})
    bill(api, at(2024, 2, 1, 1))
    (invoice,) = subscription_invoices(api)
    # Calls 36.00 and logins 6.00, taxes included; the subscription's 12.00 is left.
    assert invoice.prepaid_credit_amount_cents == 4200
    assert invoice.total_amount_cents == 1200
    assert invoice.payment_status == "pending"
    assert show(api, wallet_id)["balance_cents"] == 5800


def test_a_wallet_limited_to_one_metric_pays_only_its_fees(api: Any) -> None:
    setup(api)
    january_usage(api)
    wallet_id = wallet(api, granted_credits="100", applies_to={"billable_metric_codes": ["calls"]})
    bill(api, at(2024, 2, 1, 1))
    (invoice,) = subscription_invoices(api)
    assert invoice.prepaid_credit_amount_cents == 3600
    assert invoice.total_amount_cents == 1800
    assert show(api, wallet_id)["balance_cents"] == 6400


def test_a_wallet_running_dry_pays_part_of_the_invoice(api: Any) -> None:
    setup(api)
    january_usage(api)
    wallet_id = wallet(api, granted_credits="20")
    bill(api, at(2024, 2, 1, 1))
    (invoice,) = subscription_invoices(api)
    assert invoice.prepaid_credit_amount_cents == 2000
    assert invoice.total_amount_cents == 3400
    assert invoice.payment_status == "pending"
    invoice_body = api.get(f"invoices/{invoice.id}").json()["invoice"]
    assert invoice_body["total_due_amount_cents"] == 3400
    assert invoice_body["prepaid_credit_amount_cents"] == 2000
    body = show(api, wallet_id)
    assert (body["balance_cents"], body["credits_balance"]) == (0, "0.0")
    assert_ledger(api, wallet_id)


def test_rate_one_and_a_half_with_paid_and_granted_credits(api: Any) -> None:
    setup(api)
    january_usage(api)
    # 30 paid credits (45.00) and 10 granted (15.00) at 1.50: 60.00.
    wallet_id = wallet(api, rate_amount="1.5", paid_credits="30", granted_credits="10")
    assert show(api, wallet_id)["balance_cents"] == 6000
    bill(api, at(2024, 2, 1, 1))
    (invoice,) = subscription_invoices(api)
    assert invoice.prepaid_credit_amount_cents == 5400
    (used,) = transactions(api, wallet_id, "invoiced")
    assert (used.amount_cents, used.credit_amount) == (5400, Decimal("36"))  # 54.00 / 1.50
    body = show(api, wallet_id)
    assert (body["balance_cents"], body["credits_balance"]) == (600, "4.0")
    purchased, granted = transactions(api, wallet_id)[:2]
    # First in, first out: the paid credits went first, then 24.00 of the granted ones.
    assert (purchased.remaining_amount_cents, granted.remaining_amount_cents) == (0, 600)
    assert_ledger(api, wallet_id)


def test_rate_one_and_a_half_drains_exactly_when_short(api: Any) -> None:
    setup(api)
    january_usage(api)
    # 7.77 granted credits at 1.50 = 11.655 EUR, rounded half up to 11.66.
    wallet_id = wallet(api, rate_amount="1.5", paid_credits="20", granted_credits="7.77")
    assert show(api, wallet_id)["balance_cents"] == 3000 + 1166
    bill(api, at(2024, 2, 1, 1))
    (invoice,) = subscription_invoices(api)
    assert invoice.prepaid_credit_amount_cents == 4166
    assert invoice.total_amount_cents == 5400 - 4166
    (used,) = transactions(api, wallet_id, "invoiced")
    assert used.credit_amount == Decimal("27.77")
    body = show(api, wallet_id)
    assert (body["balance_cents"], body["credits_balance"], body["consumed_credits"]) == (
        0,
        "0.0",
        "27.77",
    )
    assert_ledger(api, wallet_id)


def test_three_decimal_currency(api: Any) -> None:
    setup(api, cur="KWD", tax=False)
    january_usage(api)
    # 1.000 + 30.000 + 5.000 KWD = 36000 fils; 100.5 credits at 0.125 = 12.5625 → 12.563.
    wallet_id = wallet(api, currency="KWD", rate_amount="0.125", granted_credits="100.5")
    assert show(api, wallet_id)["balance_cents"] == 12563
    bill(api, at(2024, 2, 1, 1))
    (invoice,) = subscription_invoices(api)
    assert invoice.fees_amount_cents == 36000
    assert invoice.prepaid_credit_amount_cents == 12563
    assert invoice.total_amount_cents == 23437
    body = show(api, wallet_id)
    assert (body["balance_cents"], body["credits_balance"], body["consumed_credits"]) == (
        0,
        "0.0",
        "100.5",
    )
    assert_ledger(api, wallet_id)


def test_three_decimal_currency_partial_consumption(api: Any) -> None:
    setup(api, cur="KWD", tax=False)
    january_usage(api)
    wallet_id = wallet(api, currency="KWD", rate_amount="0.125", granted_credits="400")
    bill(api, at(2024, 2, 1, 1))
    (used,) = transactions(api, wallet_id, "invoiced")
    assert (used.amount_cents, used.credit_amount) == (36000, Decimal("288"))
    assert used.amount == Decimal("36")
    body = show(api, wallet_id)
    assert (body["balance_cents"], body["credits_balance"]) == (14000, "112.0")


def test_consumptions_and_fundings_tell_which_top_up_paid_which_invoice(api: Any) -> None:
    setup(api)
    january_usage(api)
    wallet_id = wallet(api, paid_credits="30")
    granted = api.post(
        "wallet_transactions",
        {"wallet_transaction": {"wallet_id": wallet_id, "granted_credits": "30"}},
    ).json()["wallet_transactions"][0]
    bill(api, at(2024, 2, 1, 1))  # January: 54.00
    bill(api, at(2024, 3, 1, 1))  # February: the subscription only, 12.00
    january, february = subscription_invoices(api)
    assert (january.prepaid_credit_amount_cents, january.total_amount_cents) == (5400, 0)
    assert (february.prepaid_credit_amount_cents, february.total_amount_cents) == (600, 600)
    jan_tx, feb_tx = transactions(api, wallet_id, "invoiced")
    (purchased,) = transactions(api, wallet_id, "purchased")

    def fundings(tx_id: str) -> list[tuple[str, int]]:
        body = api.get(f"wallet_transactions/{tx_id}/fundings").json()
        return [
            (f["wallet_transaction"]["transaction_status"], f["amount_cents"])
            for f in body["wallet_transaction_fundings"]
        ]

    assert fundings(jan_tx.id) == [("purchased", 3000), ("granted", 2400)]
    assert fundings(feb_tx.id) == [("granted", 600)]
    spent = api.get(f"wallet_transactions/{granted['lago_id']}/consumptions").json()
    assert [
        (c["wallet_transaction"]["lago_invoice_id"], c["amount_cents"], c["credit_amount"])
        for c in spent["wallet_transaction_consumptions"]
    ] == [(january.id, 2400, "24.0"), (february.id, 600, "6.0")]
    paid_spent = api.get(f"wallet_transactions/{purchased.id}/consumptions").json()
    assert [c["amount_cents"] for c in paid_spent["wallet_transaction_consumptions"]] == [3000]
    assert_ledger(api, wallet_id)


def test_drafts_show_the_credits_and_finalization_consumes_them(api: Any) -> None:
    setup(api, grace=3)
    january_usage(api)
    wallet_id = wallet(api, granted_credits="100")
    bill(api, at(2024, 2, 1, 1))
    (draft,) = subscription_invoices(api)
    assert draft.status == "draft"
    assert draft.prepaid_credit_amount_cents == 5400
    assert show(api, wallet_id)["balance_cents"] == 10000
    assert transactions(api, wallet_id, "invoiced") == []
    bill(api, at(2024, 2, 4, 1))
    (final,) = subscription_invoices(api)
    assert final.status == "finalized" and final.prepaid_credit_amount_cents == 5400
    assert show(api, wallet_id)["balance_cents"] == 4600
    assert len(transactions(api, wallet_id, "invoiced")) == 1


def test_credits_are_not_applied_to_other_currencies(api: Any) -> None:
    setup(api)
    january_usage(api)
    api.post("customers", {"customer": {"external_id": "usd", "currency": "USD"}})
    other = api.post(
        "wallets",
        {
            "wallet": {
                "external_customer_id": "usd",
                "rate_amount": "1",
                "currency": "USD",
                "granted_credits": "100",
            }
        },
    )
    assert other.status_code == 200
    bill(api, at(2024, 2, 1, 1))
    (invoice,) = subscription_invoices(api)
    assert invoice.prepaid_credit_amount_cents == 0


# --- ongoing balance and recurring top-ups ------------------------------------------------


def test_ongoing_balance_is_balance_minus_current_usage_with_taxes(api: Any) -> None:
    setup(api)
    january_usage(api)  # 30.00 + 5.00 of usage, 42.00 with VAT
    wallet_id = wallet(api, granted_credits="100")
    body = show(api, wallet_id)
    assert body["balance_cents"] == 10000
    assert body["ongoing_usage_balance_cents"] == 4200
    assert body["credits_ongoing_usage_balance"] == "42.0"
    assert body["ongoing_balance_cents"] == 5800
    assert body["credits_ongoing_balance"] == "58.0"


def test_threshold_top_up_fires_after_usage(api: Any) -> None:
    setup(api)
    api.post("webhook_endpoints", {"webhook_endpoint": {"webhook_url": "https://h.example.com/"}})
    january_usage(api)
    rule = {"trigger": "threshold", "threshold_credits": "10", "granted_credits": "50"}
    wallet_id = wallet(api, granted_credits="60", recurring_transaction_rules=[rule])
    clock = api.client.app.state.clock
    with api.database.unit_of_work() as session:
        # Ongoing 60.00 − 42.00 = 18 credits, above the threshold.
        assert wallet_service.run_recurring_top_ups(session, clock=clock) == []
    send(api, "calls", 200, at(2024, 1, 12), "more")  # calls now 50.00: usage 66.00
    with api.database.unit_of_work() as session:
        (top_up,) = wallet_service.run_recurring_top_ups(session, clock=clock)
        assert (top_up.source, top_up.transaction_status, top_up.credit_amount) == (
            "threshold",
            "granted",
            Decimal("50"),
        )
    with api.database.unit_of_work() as session:
        # Ongoing now 110.00 − 66.00 = 44 credits: nothing more.
        assert wallet_service.run_recurring_top_ups(session, clock=clock) == []
        depleted = session.scalars(
            select(Webhook).where(Webhook.webhook_type == "wallet.depleted_ongoing_balance")
        ).all()
        assert [w.object_id for w in depleted] == [wallet_id]
    body = show(api, wallet_id)
    assert (body["balance_cents"], body["ongoing_balance_cents"]) == (11000, 4400)
    assert_ledger(api, wallet_id)


def test_threshold_target_top_up_buys_the_gap(api: Any) -> None:
    setup(api)
    january_usage(api)
    rule = {
        "trigger": "threshold",
        "threshold_credits": "20",
        "method": "target",
        "target_ongoing_balance": "100",
    }
    wallet_id = wallet(api, granted_credits="50", recurring_transaction_rules=[rule])
    clock = api.client.app.state.clock
    with api.database.unit_of_work() as session:
        # Ongoing 50 − 42 = 8 credits: 92 paid credits bring it to 100.
        (top_up,) = wallet_service.run_recurring_top_ups(session, clock=clock)
        assert (top_up.transaction_status, top_up.credit_amount) == ("purchased", Decimal("92"))
        credit_invoice = session.get(Invoice, top_up.invoice_id)
        assert credit_invoice is not None and credit_invoice.invoice_type == "credit"
        assert credit_invoice.total_amount_cents == 9200
    body = show(api, wallet_id)
    assert (body["balance_cents"], body["credits_ongoing_balance"]) == (14200, "100.0")


def test_threshold_rule_waits_for_a_pending_paid_top_up(api: Any) -> None:
    setup(api)
    january_usage(api)
    rule = {
        "trigger": "threshold",
        "threshold_credits": "20",
        "paid_credits": "10",
        "invoice_requires_successful_payment": True,
    }
    wallet(api, granted_credits="50", recurring_transaction_rules=[rule])
    clock = api.client.app.state.clock
    with api.database.unit_of_work() as session:
        (pending,) = wallet_service.run_recurring_top_ups(session, clock=clock)
        assert pending.status == "pending"
        assert wallet_service.run_recurring_top_ups(session, clock=clock) == []


def test_interval_top_up_runs_once_on_its_day(api: Any) -> None:
    setup(api)
    rule = {
        "trigger": "interval",
        "interval": "monthly",
        "granted_credits": "5",
        "started_at": "2024-01-15T00:00:00Z",
    }
    wallet_id = wallet(api, recurring_transaction_rules=[rule])
    with api.database.unit_of_work() as session:
        start_day = FrozenClock(at(2024, 1, 15, 13))
        assert wallet_service.run_recurring_top_ups(session, clock=start_day) == []
        assert (
            wallet_service.run_recurring_top_ups(session, clock=FrozenClock(at(2024, 2, 14))) == []
        )
    feb = FrozenClock(at(2024, 2, 15, 6))
    with api.database.unit_of_work() as session:
        (top_up,) = wallet_service.run_recurring_top_ups(session, clock=feb)
        assert (top_up.source, top_up.credit_amount) == ("interval", Decimal("5"))
    with api.database.unit_of_work() as session:
        assert wallet_service.run_recurring_top_ups(session, clock=feb) == []
    assert show(api, wallet_id)["balance_cents"] == 500


def test_expired_wallets_are_terminated_and_pay_nothing(api: Any) -> None:
    setup(api)
    january_usage(api)
    wallet_id = wallet(api, granted_credits="100", expiration_at="2024-02-01T00:00:00Z")
    with api.database.unit_of_work() as session:
        assert wallet_service.terminate_expired(session, clock=FrozenClock(at(2024, 1, 31))) == []
    # The billing run terminates expired wallets itself; an expired wallet pays nothing.
    bill(api, at(2024, 2, 1, 1))
    (invoice,) = subscription_invoices(api)
    assert invoice.prepaid_credit_amount_cents == 0
    body = show(api, wallet_id)
    assert (body["status"], body["terminated_at"]) == ("terminated", "2024-02-01T01:00:00Z")
    with api.database.unit_of_work() as session:
        assert wallet_service.terminate_expired(session, clock=FrozenClock(at(2024, 2, 1, 2))) == []


# --- property: the ledger ---------------------------------------------------------------

OPERATION = st.one_of(
    st.tuples(st.just("grant"), st.decimals(min_value="0.01", max_value="50", places=2)),
    st.tuples(st.just("buy"), st.decimals(min_value="0.01", max_value="50", places=2)),
    st.tuples(st.just("void"), st.decimals(min_value="0.01", max_value="60", places=2)),
    st.tuples(st.just("invoice"), st.integers(min_value=1, max_value=9000)),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rate=st.sampled_from(["1", "1.5", "0.3", "2.75"]),
    operations=st.lists(OPERATION, min_size=1, max_size=8),
)
def test_balance_is_the_ledger_sum_never_negative_never_spent_twice(
    api: Any, rate: str, operations: list[tuple[str, Any]]
) -> None:
    if not api.database.engine.url.get_backend_name().startswith("sqlite"):
        return  # the property runs on SQLite; the scenarios above cover PostgreSQL
    external_id = f"prop-{len(api.get('customers').json()['customers'])}"
    api.post("customers", {"customer": {"external_id": external_id, "currency": "EUR"}})
    wallet_id = wallet(api, external_customer_id=external_id, rate_amount=rate)
    clock = api.client.app.state.clock
    provider = wallet_service.WalletCredits()
    for kind, amount in operations:
        if kind == "buy" and amount * Decimal(rate) < Decimal("0.005"):
            continue  # worth less than a cent: refused as invalid_paid_credits, nothing bought
        with api.database.unit_of_work() as session:
            row = session.get(Wallet, wallet_id)
            if kind in ("grant", "buy"):
                wallet_service.top_up(
                    session, wallet=row, paid=amount if kind == "buy" else Decimal(0),
                    granted=amount if kind == "grant" else Decimal(0), source="manual",
                    requires_payment=False, metadata=[], name=None, ignore_limits=True,
                    clock=clock,
                )  # fmt: skip
            elif kind == "void" and amount <= row.credits_balance:
                wallet_service.void_credits(
                    session, wallet=row, credits=amount, metadata=[], name=None, clock=clock
                )
            elif kind == "invoice":
                invoice = session.scalars(select(Invoice).limit(1)).first()
                if invoice is None:
                    continue
                totals = compute_invoice(
                    currency=currency("EUR"),
                    fees=[FeeLine("f", "charge", amount, Decimal(amount))],
                    wallets=[wallet_service._balance(row)] if row.balance_cents > 0 else [],
                )
                provider.consume(session, invoice=invoice, totals=totals, clock=clock)
        assert_ledger(api, wallet_id)
