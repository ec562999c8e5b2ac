"""Reference data: the records an import must find, read from a folder of CSV files and validated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pandera.pandas as pa

from invoice_pipeline.schemas.reference_data import REFERENCE_SCHEMAS


class ReferenceDataError(Exception):
    """Reference data that cannot be used; the message names the file and what to fix."""


@dataclass(frozen=True)
class ReferenceData:
    """The validated reference tables by name (provider_accounts, subscriptions, products, currencies)."""

    tables: dict[str, pd.DataFrame]

    def minor_units(self, currency: str) -> int | None:
        """The currency's minor units, or None when it is not set up."""
        currencies = self.tables["currencies"]
        match = currencies.loc[currencies["code"] == currency, "minor_units"]
        return int(match.iloc[0]) if len(match) else None


def _read_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame = frame.apply(lambda column: column.str.strip())
    return frame.replace({"": None})


def load_reference_table(folder: Path, name: str) -> pd.DataFrame:
    """Read and validate one reference file (`<folder>/<name>.csv`); ReferenceDataError says what is wrong."""
    schema = REFERENCE_SCHEMAS[name]
    path = folder / f"{name}.csv"
    if not path.is_file():
        columns = ", ".join(schema.to_schema().columns)
        raise ReferenceDataError(f"reference data: {path} is missing; add it with columns {columns}")
    try:
        frame = _read_csv(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise ReferenceDataError(f"reference data: {path.name} cannot be read as UTF-8 CSV: {error}") from None
    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        problems = sorted({f"{row.column} fails {row.check}" for row in cases.itertuples()})
        examples = ", ".join(repr(v) for v in cases["failure_case"].head(3))
        raise ReferenceDataError(f"reference data: {path.name}: {'; '.join(problems)} (e.g. {examples})") from None


def load_reference_data(folder: Path) -> ReferenceData:
    """Read and validate every reference file in `folder`."""
    return ReferenceData({name: load_reference_table(folder, name) for name in REFERENCE_SCHEMAS})


def register_reference_data(con: duckdb.DuckDBPyConnection, reference: ReferenceData) -> None:
    """Copy the reference tables into temp tables `ref_<name>` of an import's DuckDB connection."""
    for name, frame in reference.tables.items():
        con.register(f"ref_{name}_frame", frame)
        con.execute(f"CREATE OR REPLACE TEMP TABLE ref_{name} AS SELECT * FROM ref_{name}_frame")
        con.unregister(f"ref_{name}_frame")
