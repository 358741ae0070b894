"""The billing run's per-batch cache: keyed by organization, seen only inside the batch."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from meterly.services.accounts import billing_cache, create_organization
from meterly.services.catalog.taxes import TaxInput, create
from meterly.services.common import FrozenClock

CLOCK = FrozenClock(datetime(2024, 1, 15, 12, 0, tzinfo=UTC))


def _tax(api: Any, organization_id: str, code: str, rate: str) -> str:
    sent = frozenset({"name", "code", "rate"})
    with api.database.unit_of_work() as session:
        tax = create(
            session,
            organization_id=organization_id,
            data=TaxInput(name=code, code=code, rate=rate, sent=sent),
            clock=CLOCK,
        )
        return str(tax.id)


def _second_org(api: Any) -> str:
    with api.database.unit_of_work() as session:
        org, _ = create_organization(session, name="Other", clock=CLOCK)
        return str(org.id)


def test_each_organization_gets_its_own_taxes_from_the_cache(api: Any) -> None:
    other = _second_org(api)
    mine, theirs = _tax(api, api.org_id, "vat", "20"), _tax(api, other, "vat", "10")
    with billing_cache.active(billing_cache.BatchCache()):
        with api.database.unit_of_work() as session:
            assert billing_cache.tax_ids(session, api.org_id) == {"vat": mine}
            assert billing_cache.tax_ids(session, other) == {"vat": theirs}
        with api.database.unit_of_work() as session:
            assert billing_cache.tax_ids(session, other) == {"vat": theirs}
            assert billing_cache.tax_ids(session, api.org_id) == {"vat": mine}


def test_outside_a_batch_taxes_are_read_fresh(api: Any) -> None:
    with api.database.unit_of_work() as session:
        assert billing_cache.tax_ids(session, api.org_id) == {}
    created = _tax(api, api.org_id, "vat", "20")
    with api.database.unit_of_work() as session:
        assert billing_cache.tax_ids(session, api.org_id) == {"vat": created}


def test_another_thread_never_sees_the_batch(api: Any) -> None:
    seen: list[object] = []
    with billing_cache.active(billing_cache.BatchCache()):
        thread = threading.Thread(target=lambda: seen.append(billing_cache.current()))
        thread.start()
        thread.join()
        assert billing_cache.current() is not None
    assert seen == [None]
    assert billing_cache.current() is None
