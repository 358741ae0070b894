"""Wallets and wallet transactions through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from meterly.services.credits import wallets as wallet_service
from meterly.store.tables import Fee, Invoice, Webhook
from meterly.store.tables_wallets import Wallet, WalletTransaction

WALLET_REQUIRED = (
    "lago_id",
    "lago_customer_id",
    "external_customer_id",
    "status",
    "currency",
    "rate_amount",
    "credits_balance",
    "balance_cents",
    "consumed_credits",
    "created_at",
    "ongoing_balance_cents",
    "ongoing_usage_balance_cents",
    "credits_ongoing_balance",
    "credits_ongoing_usage_balance",
)
TRANSACTION_REQUIRED = (
    "lago_id",
    "lago_wallet_id",
    "status",
    "source",
    "transaction_status",
    "transaction_type",
    "amount",
    "credit_amount",
    "created_at",
)


def customer(api: Any, external_id: str = "cust", **fields: Any) -> None:
    body = {"external_id": external_id, "name": "Customer", **fields}
    assert api.post("customers", {"customer": body}).status_code == 200


def wallet_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_customer_id": "cust",
        "name": "Prepaid",
        "code": "main",
        "rate_amount": "1.5",
        "currency": "EUR",
    }
    body.update(overrides)
    return {"wallet": body}


def create_wallet(api: Any, **overrides: Any) -> dict[str, Any]:
    response = api.post("wallets", wallet_body(**overrides))
    assert response.status_code == 200, response.text
    wallet: dict[str, Any] = response.json()["wallet"]
    return wallet


def count(api: Any, table: Any) -> int:
    with api.database.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def assert_ledger_matches(api: Any, wallet_id: str) -> None:
    with api.database.unit_of_work() as session:
        row = session.get(Wallet, wallet_id)
        ledger = wallet_service.ledger(session, wallet_id=wallet_id)
        assert (row.credits_balance, row.balance_cents) == (
            ledger.credits_balance,
            ledger.balance_cents,
        )
        assert row.consumed_credits == ledger.consumed_credits
        assert row.balance_cents >= 0 and row.credits_balance >= 0


def transact(api: Any, wallet_id: str, **credits: Any) -> Any:
    body = {
        "wallet_id": wallet_id,
        "paid_credits": None,
        "granted_credits": None,
        "voided_credits": None,
        "invoice_requires_successful_payment": None,
        "metadata": None,
        "name": None,
    }
    body.update(credits)
    return api.post("wallet_transactions", {"wallet_transaction": body})


# --- create -------------------------------------------------------------------------------


def test_create_returns_lago_wallet_with_paid_and_granted_credits(api: Any) -> None:
    customer(api)
    wallet = create_wallet(api, paid_credits="20.0", granted_credits="10.0")
    for key in WALLET_REQUIRED:
        assert wallet[key] is not None, key
    assert wallet["status"] == "active"
    assert wallet["rate_amount"] == "1.5"
    assert wallet["priority"] == 50
    # 30 credits at 1.50 EUR: both settle at once (no successful payment required).
    assert wallet["credits_balance"] == "30.0"
    assert wallet["balance_cents"] == 4500
    assert wallet["ongoing_balance_cents"] == 4500
    assert wallet["credits_ongoing_balance"] == "30.0"
    assert wallet["ongoing_usage_balance_cents"] == 0
    assert wallet["consumed_credits"] == "0.0"
    assert wallet["created_at"] == "2024-01-15T12:00:00Z"
    assert wallet["applies_to"] == {"fee_types": [], "billable_metric_codes": []}
    assert wallet["recurring_transaction_rules"] == []
    assert_ledger_matches(api, wallet["lago_id"])
    listed = api.get(f"wallets/{wallet['lago_id']}/wallet_transactions").json()
    kinds = sorted(t["transaction_status"] for t in listed["wallet_transactions"])
    assert kinds == ["granted", "purchased"]
    for item in listed["wallet_transactions"]:
        for key in TRANSACTION_REQUIRED:
            assert item[key] is not None, key


def test_paid_credits_make_a_finalized_credit_invoice_without_taxes(api: Any) -> None:
    api.post(
        "taxes",
        {"tax": {"name": "VAT", "code": "vat", "rate": 20.0, "applied_to_organization": True}},
    )
    customer(api)
    wallet = create_wallet(api, paid_credits="20.0")
    with api.database.unit_of_work() as session:
        (invoice,) = session.scalars(select(Invoice)).all()
        assert invoice.invoice_type == "credit"
        assert invoice.status == "finalized" and invoice.number is not None
        assert invoice.payment_status == "pending"
        assert invoice.fees_amount_cents == 3000
        assert invoice.taxes_amount_cents == 0
        assert invoice.total_amount_cents == 3000
        (fee,) = session.scalars(select(Fee).where(Fee.invoice_id == invoice.id)).all()
        assert (fee.fee_type, fee.amount_cents, fee.units) == ("credit", 3000, 20)
        purchase = session.scalars(
            select(WalletTransaction).where(WalletTransaction.transaction_status == "purchased")
        ).one()
        assert purchase.invoice_id == invoice.id
        assert fee.item["lago_item_id"] == purchase.id
        assert fee.item["item_type"] == "WalletTransaction"
    assert wallet["balance_cents"] == 3000


def test_create_emits_wallet_and_transaction_webhooks(api: Any) -> None:
    api.post("webhook_endpoints", {"webhook_endpoint": {"webhook_url": "https://h.example.com/"}})
    customer(api)
    create_wallet(api, paid_credits="2", granted_credits="1")
    with api.database.unit_of_work() as session:
        types = sorted(session.scalars(select(Webhook.webhook_type)))
    assert types == [
        "customer.created",
        "invoice.created",
        "invoice.paid_credit_added",
        "wallet.created",
        "wallet_transaction.created",
        "wallet_transaction.created",
    ]


def test_create_sets_the_currency_of_a_customer_without_one(api: Any) -> None:
    customer(api)
    create_wallet(api)
    assert api.get("customers/cust").json()["customer"]["currency"] == "EUR"


def test_a_wallet_may_be_in_another_currency_than_the_customers(api: Any) -> None:
    customer(api, currency="USD")
    # Several currencies per customer (Lago, July 2026): the EUR wallet pays EUR invoices.
    response = api.post("wallets", wallet_body(currency="EUR", granted_credits="5"))
    assert response.status_code == 200, response.text
    assert response.json()["wallet"]["currency"] == "EUR"
    assert api.get("customers/cust").json()["customer"]["currency"] == "USD"
    bad = api.post("wallets", wallet_body(code="other", currency="EURO"))
    assert bad.status_code == 422
    assert bad.json()["error_details"] == {"currency": ["value_is_invalid"]}


def test_rate_amount_is_mandatory_and_positive(api: Any) -> None:
    customer(api)
    cases = [
        (None, "value_is_mandatory"),
        ("0", "value_is_invalid"),
        ("-1.5", "value_is_invalid"),
        ("abc", "value_is_invalid"),
        (1.5, "value_is_invalid"),  # a JSON float is not money
    ]
    for rate, code in cases:
        response = api.post("wallets", wallet_body(rate_amount=rate))
        assert response.status_code == 422, rate
        assert response.json()["error_details"] == {"rate_amount": [code]}, rate
    assert count(api, Wallet) == 0


def test_priority_must_be_between_1_and_50(api: Any) -> None:
    customer(api)
    for priority in (0, 51):
        response = api.post("wallets", wallet_body(priority=priority))
        assert response.status_code == 422
        assert response.json()["error_details"] == {"priority": ["value_is_out_of_range"]}
    assert create_wallet(api, priority=1)["priority"] == 1


def test_unknown_customer_is_404(api: Any) -> None:
    response = api.post("wallets", wallet_body(external_customer_id="nobody"))
    assert response.status_code == 404
    assert response.json() == {"status": 404, "error": "Not Found", "code": "customer_not_found"}
    assert count(api, Wallet) == 0


def test_missing_root_key_is_400(api: Any) -> None:
    response = api.post("wallets", {"rate_amount": "1"})
    assert response.status_code == 400


def test_negative_credits_are_invalid_and_change_nothing(api: Any) -> None:
    customer(api)
    response = api.post("wallets", wallet_body(paid_credits="-1"))
    assert response.status_code == 422
    assert response.json()["error_details"] == {"paid_credits": ["invalid_paid_credits"]}
    response = api.post("wallets", wallet_body(granted_credits="x"))
    assert response.json()["error_details"] == {"granted_credits": ["invalid_granted_credits"]}
    assert count(api, Wallet) == 0 and count(api, Invoice) == 0


def test_duplicate_code_for_the_customer_is_rejected(api: Any) -> None:
    customer(api)
    customer(api, "other")
    create_wallet(api)
    again = api.post("wallets", wallet_body())
    assert again.status_code == 422
    assert again.json()["error_details"] == {"code": ["value_already_exist"]}
    # Another customer may use the same code.
    create_wallet(api, external_customer_id="other")
    assert count(api, Wallet) == 2


def test_missing_code_is_derived_from_the_name(api: Any) -> None:
    customer(api)
    first = create_wallet(api, code=None, name="Promo Credits")
    second = create_wallet(api, code=None, name="Promo Credits")
    assert (first["code"], second["code"]) == ("promo_credits", "promo_credits_2")


def test_applies_to_limits_are_validated(api: Any) -> None:
    customer(api)
    bad = api.post("wallets", wallet_body(applies_to={"fee_types": ["add_on"]}))
    assert bad.status_code == 422
    assert bad.json()["error_details"] == {"applies_to": ["invalid_fee_types"]}
    unknown = api.post("wallets", wallet_body(applies_to={"billable_metric_codes": ["nope"]}))
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "billable_metrics_not_found"
    assert count(api, Wallet) == 0
    api.post(
        "billable_metrics",
        {"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}},
    )
    wallet = create_wallet(
        api, applies_to={"fee_types": ["charge"], "billable_metric_codes": ["calls"]}
    )
    assert wallet["applies_to"] == {"fee_types": ["charge"], "billable_metric_codes": ["calls"]}


def test_expiration_in_the_past_is_invalid(api: Any) -> None:
    customer(api)
    response = api.post("wallets", wallet_body(expiration_at="2024-01-01T00:00:00Z"))
    assert response.json()["error_details"] == {"expiration_at": ["invalid_date"]}
    wallet = create_wallet(api, expiration_at="2025-01-01T00:00:00Z")
    assert wallet["expiration_at"] == "2025-01-01T00:00:00Z"


def test_recurring_rules_are_stored_and_validated(api: Any) -> None:
    customer(api)
    rules = [
        {"trigger": "interval", "interval": "monthly", "method": "fixed", "paid_credits": "10.0"},
        {
            "trigger": "threshold",
            "threshold_credits": "5.0",
            "method": "target",
            "target_ongoing_balance": "50.0",
        },
    ]
    wallet = create_wallet(api, recurring_transaction_rules=rules)
    got = wallet["recurring_transaction_rules"]
    assert [(r["trigger"], r["method"]) for r in got] == [
        ("interval", "fixed"),
        ("threshold", "target"),
    ]
    assert got[0]["paid_credits"] == "10.0" and got[0]["interval"] == "monthly"
    assert got[1]["threshold_credits"] == "5.0" and got[1]["target_ongoing_balance"] == "50.0"
    for bad in (
        {"trigger": "interval", "interval": "daily", "paid_credits": "1"},
        {"trigger": "threshold", "method": "target"},
        {"trigger": "sometimes", "paid_credits": "1"},
        {"trigger": "threshold", "threshold_credits": "1", "method": "fixed"},
    ):
        response = api.post("wallets", wallet_body(code="other", recurring_transaction_rules=[bad]))
        assert response.status_code == 422, bad
        assert response.json()["error_details"] == {
            "recurring_transaction_rules": ["invalid_recurring_rule"]
        }
    assert count(api, Wallet) == 1


# --- read, update, terminate ------------------------------------------------------------


def test_list_show_and_not_found(api: Any) -> None:
    customer(api)
    customer(api, "other")
    wallet = create_wallet(api)
    create_wallet(api, external_customer_id="other")
    listed = api.get("wallets", params={"external_customer_id": "cust"}).json()
    assert [w["lago_id"] for w in listed["wallets"]] == [wallet["lago_id"]]
    assert listed["meta"]["total_count"] == 1
    assert api.get("wallets").json()["meta"]["total_count"] == 2
    assert api.get("wallets", params={"external_customer_id": "nobody"}).status_code == 404
    assert api.get(f"wallets/{wallet['lago_id']}").json()["wallet"] == wallet
    missing = api.get("wallets/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["code"] == "wallet_not_found"
    assert api.get("wallets/not-a-uuid").json()["code"] == "wallet_not_found"


def test_update_changes_settings_but_not_rate(api: Any) -> None:
    customer(api)
    wallet = create_wallet(api, granted_credits="10")
    response = api.put(
        f"wallets/{wallet['lago_id']}",
        {"wallet": {"name": "Renamed", "priority": 3, "rate_amount": "9", "code": "renamed"}},
    )
    assert response.status_code == 200, response.text
    updated = response.json()["wallet"]
    assert (updated["name"], updated["priority"], updated["code"]) == ("Renamed", 3, "renamed")
    assert updated["rate_amount"] == "1.5"
    assert updated["balance_cents"] == 1500


def test_invalid_update_changes_nothing(api: Any) -> None:
    customer(api)
    wallet = create_wallet(api)
    response = api.put(f"wallets/{wallet['lago_id']}", {"wallet": {"priority": 99, "name": "x"}})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"priority": ["value_is_out_of_range"]}
    assert api.get(f"wallets/{wallet['lago_id']}").json()["wallet"]["name"] == "Prepaid"


def test_update_replaces_recurring_rules(api: Any) -> None:
    customer(api)
    rule = {"trigger": "interval", "interval": "weekly", "granted_credits": "1"}
    wallet = create_wallet(api, recurring_transaction_rules=[rule])
    rule_id = wallet["recurring_transaction_rules"][0]["lago_id"]
    kept = api.put(
        f"wallets/{wallet['lago_id']}",
        {"wallet": {"recurring_transaction_rules": [{"lago_id": rule_id, "granted_credits": "2"}]}},
    ).json()["wallet"]["recurring_transaction_rules"]
    assert [(r["lago_id"], r["granted_credits"], r["interval"]) for r in kept] == [
        (rule_id, "2.0", "weekly")
    ]
    emptied = api.put(
        f"wallets/{wallet['lago_id']}", {"wallet": {"recurring_transaction_rules": []}}
    )
    assert emptied.json()["wallet"]["recurring_transaction_rules"] == []


def test_delete_terminates_and_blocks_top_ups(api: Any) -> None:
    customer(api)
    wallet = create_wallet(api, granted_credits="10")
    response = api.delete(f"wallets/{wallet['lago_id']}")
    assert response.status_code == 200
    body = response.json()["wallet"]
    assert body["status"] == "terminated"
    assert body["terminated_at"] == "2024-01-15T12:00:00Z"
    blocked = transact(api, wallet["lago_id"], granted_credits="5")
    assert blocked.status_code == 405
    assert blocked.json()["code"] == "wallet_not_active"
    refused = api.put(f"wallets/{wallet['lago_id']}", {"wallet": {"name": "x"}})
    assert refused.status_code == 405
    # A second delete answers the terminated wallet again.
    assert api.delete(f"wallets/{wallet['lago_id']}").json()["wallet"]["status"] == "terminated"


# --- customer-scoped wallets -------------------------------------------------------------


def test_customer_scoped_crud_by_code(api: Any) -> None:
    customer(api)
    body = wallet_body(code="promo", granted_credits="4")
    del body["wallet"]["external_customer_id"]
    created = api.post("customers/cust/wallets", body)
    assert created.status_code == 200, created.text
    assert created.json()["wallet"]["external_customer_id"] == "cust"
    listed = api.get("customers/cust/wallets").json()
    assert [w["code"] for w in listed["wallets"]] == ["promo"]
    shown = api.get("customers/cust/wallets/promo").json()["wallet"]
    assert shown["balance_cents"] == 600
    updated = api.put("customers/cust/wallets/promo", {"wallet": {"name": "Promo"}})
    assert updated.json()["wallet"]["name"] == "Promo"
    assert api.get("customers/cust/wallets/nope").json()["code"] == "wallet_not_found"
    assert api.get("customers/nobody/wallets").json()["code"] == "customer_not_found"
    deleted = api.delete("customers/cust/wallets/promo")
    assert deleted.json()["wallet"]["status"] == "terminated"


def test_customer_wallet_list_needs_the_api_key(api: Any) -> None:
    customer(api)
    response = api.client.get("/api/v1/customers/cust/wallets")
    assert response.status_code == 401


def test_wallet_metadata_replace_merge_delete(api: Any) -> None:
    customer(api)
    wallet = create_wallet(api)
    path = f"wallets/{wallet['lago_id']}/metadata"
    assert api.post(path, {"metadata": {"a": "1", "b": "2"}}).json() == {
        "metadata": {"a": "1", "b": "2"}
    }
    merged = api.client.patch(
        f"/api/v1/{path}", json={"metadata": {"b": "3", "c": "4"}}, headers=api.headers
    )
    assert merged.json() == {"metadata": {"a": "1", "b": "3", "c": "4"}}
    assert api.delete(f"{path}/a").json() == {"metadata": {"b": "3", "c": "4"}}
    assert api.get(f"wallets/{wallet['lago_id']}").json()["wallet"]["metadata"] == {
        "b": "3",
        "c": "4",
    }
    assert api.delete(path).json() == {"metadata": None}
    scoped = api.post("customers/cust/wallets/main/metadata", {"metadata": {"k": "v"}})
    assert scoped.json() == {"metadata": {"k": "v"}}


# --- wallet transactions ----------------------------------------------------------------


def test_transactions_return_one_entry_per_part(api: Any) -> None:
    customer(api)
    wallet = create_wallet(api, rate_amount="1", granted_credits="10")
    response = transact(
        api,
        wallet["lago_id"],
        paid_credits="10",
        granted_credits="5",
        voided_credits="3",
        metadata=[{"key": "reason", "value": "promo"}],
        name="Top-up",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"wallet_transactions"}
    parts = [
        (t["transaction_status"], t["transaction_type"], t["status"])
        for t in body["wallet_transactions"]
    ]
    assert parts == [
        ("purchased", "inbound", "settled"),
        ("granted", "inbound", "settled"),
        ("voided", "outbound", "settled"),
    ]
    purchased, granted, voided = body["wallet_transactions"]
    assert (purchased["amount"], purchased["credit_amount"]) == ("10.0", "10.0")
    assert purchased["lago_invoice_id"] is not None
    assert granted["lago_invoice_id"] is None
    assert voided["credit_amount"] == "3.0"
    assert purchased["metadata"] == [{"key": "reason", "value": "promo"}]
    assert purchased["name"] == "Top-up"
    shown = api.get(f"wallets/{wallet['lago_id']}").json()["wallet"]
    assert (shown["credits_balance"], shown["balance_cents"]) == ("22.0", 2200)
    assert_ledger_matches(api, wallet["lago_id"])
    one = api.get(f"wallet_transactions/{voided['lago_id']}")
    assert one.json()["wallet_transaction"] == voided


def test_voiding_more_than_the_balance_is_refused_and_changes_nothing(api: Any) -> None:
    customer(api)
    wallet = create_wallet(api, granted_credits="10")
    before = count(api, WalletTransaction)
    response = transact(api, wallet["lago_id"], granted_credits="5", voided_credits="10.01")
    assert response.status_code == 422
    assert response.json()["error_details"] == {"voided_credits": ["insufficient_credits"]}
    assert count(api, WalletTransaction) == before
    assert api.get(f"wallets/{wallet['lago_id']}").json()["wallet"]["credits_balance"] == "10.0"


def test_voiding_the_whole_balance_empties_the_wallet(api: Any) -> None:
    customer(api)
    # 3.333 credits at 1.5 EUR = 4.9995 EUR, 500 cents: voiding them all leaves 0 and 0.
    wallet = create_wallet(api, granted_credits="3.333")
    assert wallet["balance_cents"] == 500
    transact(api, wallet["lago_id"], voided_credits="3.333")
    shown = api.get(f"wallets/{wallet['lago_id']}").json()["wallet"]
    assert (shown["credits_balance"], shown["balance_cents"]) == ("0.0", 0)
    assert_ledger_matches(api, wallet["lago_id"])


def test_transaction_errors(api: Any) -> None:
    customer(api)
    wallet = create_wallet(api)
    missing = transact(api, "00000000-0000-0000-0000-000000000000", granted_credits="1")
    assert missing.status_code == 404 and missing.json()["code"] == "wallet_not_found"
    no_id = transact(api, None, granted_credits="1")
    assert no_id.json()["error_details"] == {"wallet_id": ["value_is_mandatory"]}
    negative = transact(api, wallet["lago_id"], granted_credits="-1")
    assert negative.json()["error_details"] == {"granted_credits": ["invalid_granted_credits"]}
    absent = api.get("wallet_transactions/00000000-0000-0000-0000-000000000000")
    assert absent.status_code == 404 and absent.json()["code"] == "wallet_transaction_not_found"
    assert count(api, WalletTransaction) == 0


def test_paid_top_up_limits(api: Any) -> None:
    customer(api)
    wallet = create_wallet(
        api, rate_amount="1", paid_top_up_min_amount_cents=500, paid_top_up_max_amount_cents=2000
    )
    low = transact(api, wallet["lago_id"], paid_credits="4.99")
    assert low.json()["error_details"] == {"paid_credits": ["amount_below_minimum"]}
    high = transact(api, wallet["lago_id"], paid_credits="20.01")
    assert high.json()["error_details"] == {"paid_credits": ["amount_above_maximum"]}
    assert count(api, Invoice) == 0
    ignored = transact(api, wallet["lago_id"], paid_credits="50", ignore_paid_top_up_limits=True)
    assert ignored.status_code == 200
    assert wallet["paid_top_up_min_amount_cents"] == 500


def test_transaction_list_filters(api: Any) -> None:
    customer(api)
    wallet = create_wallet(api, rate_amount="1", granted_credits="10")
    transact(api, wallet["lago_id"], paid_credits="5", metadata=[{"key": "k", "value": "v"}])
    transact(api, wallet["lago_id"], voided_credits="1")
    path = f"wallets/{wallet['lago_id']}/wallet_transactions"
    assert api.get(path).json()["meta"]["total_count"] == 3

    def kinds(**params: str) -> list[str]:
        listed = api.get(path, params=params).json()["wallet_transactions"]
        return [t["transaction_status"] for t in listed]

    assert kinds(transaction_type="outbound") == ["voided"]
    assert sorted(kinds(transaction_type="inbound")) == ["granted", "purchased"]
    assert kinds(transaction_status="purchased") == ["purchased"]
    assert kinds(status="pending") == []
    assert kinds(**{"metadata[k]": "v"}) == ["purchased"]
    bad = api.get(path, params={"status": "weird"})
    assert bad.status_code == 422
    assert bad.json()["error_details"] == {"status": ["value_is_invalid"]}


def test_consumptions_and_fundings_of_a_void(api: Any) -> None:
    customer(api)
    wallet = create_wallet(api, rate_amount="1", granted_credits="3")
    transact(api, wallet["lago_id"], granted_credits="4")
    voided = transact(api, wallet["lago_id"], voided_credits="5").json()["wallet_transactions"][0]
    fundings = api.get(f"wallet_transactions/{voided['lago_id']}/fundings").json()
    drawn = [
        (f["amount_cents"], f["credit_amount"], f["wallet_transaction"]["credit_amount"])
        for f in fundings["wallet_transaction_fundings"]
    ]
    assert drawn == [(300, "3.0", "3.0"), (200, "2.0", "4.0")]
    assert fundings["meta"]["total_count"] == 2
    inbound = fundings["wallet_transaction_fundings"][1]["wallet_transaction"]
    assert inbound["remaining_amount_cents"] == 200
    assert inbound["remaining_credit_amount"] == "2.0"
    used = api.get(f"wallet_transactions/{inbound['lago_id']}/consumptions").json()
    assert [
        (c["amount_cents"], c["wallet_transaction"]["lago_id"])
        for c in used["wallet_transaction_consumptions"]
    ] == [(200, voided["lago_id"])]
    wrong_side = api.get(f"wallet_transactions/{voided['lago_id']}/consumptions")
    assert wrong_side.status_code == 405


def test_payment_url_needs_a_payment_provider(api: Any) -> None:
    customer(api)
    wallet = create_wallet(api, paid_credits="1")
    tx = api.get(f"wallets/{wallet['lago_id']}/wallet_transactions").json()
    tx_id = tx["wallet_transactions"][0]["lago_id"]
    response = api.post(f"wallet_transactions/{tx_id}/payment_url")
    assert response.status_code == 405
    assert response.json()["code"] == "missing_payment_provider"


def test_paid_credits_wait_for_a_successful_payment_when_required(api: Any) -> None:
    customer(api)
    wallet = create_wallet(
        api, rate_amount="1", paid_credits="25", invoice_requires_successful_payment=True
    )
    assert wallet["balance_cents"] == 0
    (pending,) = api.get(f"wallets/{wallet['lago_id']}/wallet_transactions").json()[
        "wallet_transactions"
    ]
    assert pending["status"] == "pending" and pending["settled_at"] is None
    clock = api.client.app.state.clock
    with api.database.unit_of_work() as session:
        invoice = session.get(Invoice, pending["lago_invoice_id"])
        settled = wallet_service.settle_paid_top_ups(session, invoice=invoice, clock=clock)
        assert [t.id for t in settled] == [pending["lago_id"]]
        # A second call settles nothing twice.
        assert wallet_service.settle_paid_top_ups(session, invoice=invoice, clock=clock) == []
    shown = api.get(f"wallets/{wallet['lago_id']}").json()["wallet"]
    assert (shown["balance_cents"], shown["credits_balance"]) == (2500, "25.0")
    assert_ledger_matches(api, wallet["lago_id"])


def test_failed_payment_leaves_the_credits_out(api: Any) -> None:
    customer(api)
    wallet = create_wallet(
        api, rate_amount="1", paid_credits="25", invoice_requires_successful_payment=True
    )
    clock = api.client.app.state.clock
    with api.database.unit_of_work() as session:
        invoice = session.scalars(select(Invoice)).one()
        wallet_service.fail_paid_top_ups(session, invoice=invoice, clock=clock)
    (tx,) = api.get(f"wallets/{wallet['lago_id']}/wallet_transactions").json()[
        "wallet_transactions"
    ]
    assert tx["status"] == "failed" and tx["failed_at"] is not None
    assert api.get(f"wallets/{wallet['lago_id']}").json()["wallet"]["balance_cents"] == 0
