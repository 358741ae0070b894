"""What a charge (or one of its filters) is priced with: its properties.

The defaults a charge sent without properties gets, and validating sent properties with the
pricing rules. Charges and charge filters both store properties this way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meterly.domain.pricing import normalized_properties, parse_properties
from meterly.domain.pricing.models import ChargeModel

# Lago's BuildDefaultPropertiesService: what a charge sent without properties gets.
_OPEN_RANGE = {"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}
_DEFAULT_PROPERTIES: dict[ChargeModel, dict[str, Any]] = {
    ChargeModel.STANDARD: {"amount": "0"},
    ChargeModel.GRADUATED: {"graduated_ranges": [_OPEN_RANGE]},
    ChargeModel.GRADUATED_PERCENTAGE: {
        "graduated_percentage_ranges": [
            {"from_value": 0, "to_value": None, "rate": "0", "flat_amount": "0"}
        ]
    },
    ChargeModel.VOLUME: {"volume_ranges": [_OPEN_RANGE]},
    ChargeModel.PACKAGE: {"amount": "0", "package_size": 1, "free_units": 0},
    ChargeModel.PERCENTAGE: {"rate": "0"},
    ChargeModel.DYNAMIC: {},
}


def defaults(model: ChargeModel) -> dict[str, Any]:
    return dict(_DEFAULT_PROPERTIES[model])


def properties(model: ChargeModel, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate with the pricing rules (their codes propagate); store what Lago echoes."""
    parse_properties(model.value, raw)
    return dict(normalized_properties(model.value, raw))
