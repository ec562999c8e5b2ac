"""Line items as the fake's APIs write them: JSON with exact numbers, keys in the casing of each API.

No server here, so the tests that build line items (the connector's mapping) load none.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def to_json(value: Any) -> str:
    """JSON text in which Decimals are written as exact JSON numbers (as Partner Center writes amounts)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


def pascal_case(item: dict[str, Any]) -> dict[str, Any]:
    """Keys as export blobs spell them (PascalCase), to prove the client matches keys case-insensitively."""
    return {key[:1].upper() + key[1:]: value for key, value in item.items()}
