"""`meterly backtest`: what a candidate plan would have billed the plan's customers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from meterly.api.errors import BadRequest
from meterly.api.schemas.backtest import candidate
from meterly.cli.common import (
    DEFAULT_URL,
    DatabaseUrl,
    clock_from_env,
    fail,
    open_database,
    reporting_errors,
)
from meterly.cli.output import say, show_table
from meterly.cli.reconcile import _instants, _progress
from meterly.domain.money import currency, from_minor
from meterly.services import backtest as backtest_service
from meterly.services.backtest import BacktestReport


def backtest(
    plan: Annotated[
        Path, typer.Option("--plan", help='Candidate JSON: {"plan": {...}, "coupons": [...]}.')
    ],
    start: Annotated[str, typer.Option("--from", help="ISO 8601: first period start.")],
    end: Annotated[str, typer.Option("--to", help="ISO 8601: end (excluded).")],
    organization: Annotated[str, typer.Option("--org", help="Organization id.")],
    code: Annotated[
        str | None, typer.Option("--code", help="Plan to replace (default: the JSON's code).")
    ] = None,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Also write the per-customer CSV here.")
    ] = None,
    database_url: DatabaseUrl = DEFAULT_URL,
) -> None:
    """Re-price the real usage of every subscription of a plan under a candidate plan and
    coupons over a window; compare with what was billed. Stores nothing."""
    lower, upper = _instants(start, end)
    assert lower is not None and upper is not None
    try:
        body = json.loads(plan.read_text())
    except (OSError, ValueError) as error:
        fail(f"--plan: cannot read the candidate JSON ({error})")
    if not isinstance(body, dict):
        fail("--plan: the candidate JSON is not an object")
    with reporting_errors():
        try:
            data, coupons = candidate(body if "plan" in body else {"plan": body})
        except BadRequest as error:
            fail(f"--plan: {error.message}")
    plan_code = code or data.code
    if not plan_code:
        fail("--code: the JSON names no plan code")
    with (
        open_database(database_url) as database,
        reporting_errors(),
        _progress("re-pricing") as advance,
    ):
        report = backtest_service.backtest(
            database,
            organization_id=organization,
            plan_code=plan_code,
            candidate=data,
            coupons=coupons,
            window_from=lower,
            window_to=upper,
            clock=clock_from_env(),
            on_batch=advance,
        )
    show(report)
    if csv_path is not None:
        csv_path.write_text(report.csv())
        say(f"CSV written to {csv_path}")


def show(report: BacktestReport) -> None:
    cur = currency(report.currency)

    def money(cents: int) -> str:
        return f"{from_minor(cents, cur)}"

    show_table(
        ["customer", "name", "periods", "current", "candidate", "difference"],
        [
            [
                r.external_customer_id,
                r.name or "",
                str(r.periods),
                money(r.current_cents),
                money(r.candidate_cents),
                money(r.difference_cents),
            ]
            for r in report.customers
        ],
    )
    totals = report.as_dict()["totals"]
    show_table(
        ["total", report.currency],
        [
            ["current", money(report.current_cents)],
            ["candidate", money(report.candidate_cents)],
            ["difference", money(report.difference_cents)],
            ["difference %", totals["difference_percent"] or "-"],
        ],
    )
    show_table(
        ["biggest increases", "difference"],
        [[r.external_customer_id, money(r.difference_cents)] for r in report.biggest_increases()],
    )
    show_table(
        ["biggest decreases", "difference"],
        [[r.external_customer_id, money(r.difference_cents)] for r in report.biggest_decreases()],
    )
    say(
        f"{len(report.customers)} customers, {report.periods} billed periods: "
        f"{money(report.current_cents)} billed, {money(report.candidate_cents)} under the "
        f"candidate ({money(report.difference_cents)} {report.currency})."
    )
