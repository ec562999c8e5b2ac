"""The columns of a line summary file, by name: those every line carries and those of usage lines only.

Plain tuples with no schema library, so a connector mapping its provider's lines (and its tests) loads no engine.
"""

from __future__ import annotations

COMMON_COLUMNS = (
    "line_id",
    "customer_id",
    "subscription_id",
    "product_id",
    "charge_start_date",
    "charge_end_date",
    "quantity",
    "unit_price",
    "amount",
    "currency",
)
USAGE_COLUMNS = ("usage_date", "meter_id", "meter_name", "unit")
