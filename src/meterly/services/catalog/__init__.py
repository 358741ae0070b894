"""The catalog: what an organization sells and how it is priced and taxed.

Billable metrics, plans with their charges and filters, taxes, add-ons. Depends on
nothing but `common`; every other capability reads it.
"""

from meterly.services.catalog import add_ons, billable_metrics, fixed_charges, plans, taxes
from meterly.services.catalog.taxes import TaxContext, domain_tax, taxes_by_codes

__all__ = [
    "TaxContext",
    "add_ons",
    "billable_metrics",
    "domain_tax",
    "fixed_charges",
    "plans",
    "taxes",
    "taxes_by_codes",
]
