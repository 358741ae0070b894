"""Events targeting wallets (lago-semantics.md item 13): on a charge with
`accepts_target_wallet`, each wallet named by `properties.target_wallet_code` gets its own
fee and pays it; the fee of untargeted events is paid as any fee. SQLite and PostgreSQL.

Plan: 0.00 a month, one charge of 1.00 EUR per call. Wallets (rate 1 credit = 1.00 EUR):
`team_a` 5 credits (500 cents, priority 50), `team_b` 100 credits (10000 cents, priority 1).
January: 3 calls for team_a, 2 for team_b, 4 with no target.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Fee, Invoice, Wallet

FEB = datetime(2024, 2, 1, 1, tzinfo=UTC)


def setup(api: Any) -> None:
    metric = api.post(
        "billable_metrics",
        {"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}},
    ).json()["billable_metric"]
    plan = api.post(
        "plans",
        {
            "plan": {
                "name": "P",
                "code": "p",
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "EUR",
                "charges": [
                    {
                        "billable_metric_id": metric["lago_id"],
                        "charge_model": "standard",
                        "accepts_target_wallet": True,
                        "properties": {"amount": "1"},
                    }
                ],
            }
        },
    )
    assert plan.status_code == 200, plan.text
    assert plan.json()["plan"]["charges"][0]["accepts_target_wallet"] is True
    api.post("customers", {"customer": {"external_id": "c", "name": "C", "currency": "EUR"}})
    for code, credits, priority in (("team_a", "5", 50), ("team_b", "100", 1)):
        wallet = api.post(
            "wallets",
            {
                "wallet": {
                    "external_customer_id": "c",
                    "code": code,
                    "rate_amount": "1",
                    "currency": "EUR",
                    "granted_credits": credits,
                    "priority": priority,
                }
            },
        )
        assert wallet.status_code == 200, wallet.text
    sub = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "c",
                "plan_code": "p",
                "external_id": "s",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        },
    )
    assert sub.status_code == 200, sub.text
    events = [("team_a", 3), ("team_b", 2), (None, 4)]
    batch = []
    for target, count in events:
        for n in range(count):
            properties = {"target_wallet_code": target} if target else {}
            batch.append(
                {
                    "transaction_id": f"{target}-{n}",
                    "external_subscription_id": "s",
                    "code": "calls",
                    "timestamp": str(int(datetime(2024, 1, 10 + n, tzinfo=UTC).timestamp())),
                    "properties": properties,
                }
            )
    assert api.post("events/batch", {"events": batch}).status_code == 200


def test_each_targeted_wallet_pays_its_own_fee(api: Any) -> None:
    setup(api)
    report = runs.run(api.database, as_of=FEB, clock=FrozenClock(FEB))
    assert report.errors == []
    with api.database.unit_of_work() as session:
        fees = {
            (f.item.get("grouped_by") or {}).get("target_wallet_code"): f.amount_cents
            for f in session.scalars(select(Fee).where(Fee.fee_type == "charge"))
        }
        # 3, 2 and 4 calls x 1.00 EUR.
        assert fees == {"team_a": 300, "team_b": 200, None: 400}
        (invoice,) = session.scalars(select(Invoice)).all()
        # team_b (priority 1) goes first: its own 200 and the untargeted 400 = 600; team_a
        # pays its own 300. 900 of prepaid credit, nothing left to pay.
        assert (invoice.prepaid_credit_amount_cents, invoice.total_amount_cents) == (900, 0)
        balances = {w.code: w.balance_cents for w in session.scalars(select(Wallet))}
    # team_a: 500 - 300 = 200; team_b: 10000 - 600 = 9400.
    assert balances == {"team_a": 200, "team_b": 9400}


def test_a_targeted_wallet_without_balance_leaves_its_fee_to_pay(api: Any) -> None:
    setup(api)
    # team_a's 5 credits are voided first: its 300 cannot be paid by team_b.
    wallet = api.get("wallets", params={"external_customer_id": "c"}).json()["wallets"]
    team_a = next(w for w in wallet if w["code"] == "team_a")
    voided = api.post(
        "wallet_transactions",
        {"wallet_transaction": {"wallet_id": team_a["lago_id"], "voided_credits": "5"}},
    )
    assert voided.status_code == 200, voided.text
    runs.run(api.database, as_of=FEB, clock=FrozenClock(FEB))
    with api.database.unit_of_work() as session:
        (invoice,) = session.scalars(select(Invoice)).all()
        # team_b pays 200 + 400 = 600 of the 900; team_a's 300 stays due.
        assert (invoice.prepaid_credit_amount_cents, invoice.total_amount_cents) == (600, 300)
