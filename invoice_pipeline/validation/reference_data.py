"""Reference data: the records an import must find, read from a folder of CSV files and validated.

Validating a large reference set (20,000 customers, 150,000 subscriptions) takes about a second, and every
import needs it: reference data validated once is kept as Parquet under the data folder, keyed by the
files' bytes and by the rules (this module and the schemas), and read from there until either changes.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pandera.pandas as pa

from invoice_pipeline.schemas import reference_data as reference_schemas
from invoice_pipeline.schemas.reference_data import CONTRACT_SCHEMAS, REFERENCE_SCHEMAS
from invoice_pipeline.validation.reference_errors import ReferenceDataError

VALIDATED_FOLDER = "validated-reference-data"


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
    blanks_as_missing: pd.DataFrame = frame.replace({"": None})
    return blanks_as_missing


def load_reference_table(folder: Path, name: str) -> pd.DataFrame:
    """Read and validate one reference file (`<folder>/<name>.csv`); ReferenceDataError says what is wrong."""
    schema = (REFERENCE_SCHEMAS | CONTRACT_SCHEMAS)[name]
    path = folder / f"{name}.csv"
    if not path.is_file():
        columns = ", ".join(schema.to_schema().columns)
        raise ReferenceDataError(f"{path} is missing; add it with columns {columns}")
    try:
        frame = _read_csv(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise ReferenceDataError(f"{path.name} cannot be read as UTF-8 CSV: {error}") from None
    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        raise ReferenceDataError(f"{path.name}: {_failures_text(frame, errors.failure_cases, schema)}") from None


def _failures_text(frame: pd.DataFrame, cases: pd.DataFrame, schema: type[pa.DataFrameModel]) -> str:
    """What to fix, each failed check once. Columns missing or not expected, when there are any, with the columns
    the file must have (every other check would only repeat them); else a column's check with the file's line
    numbers and a few failing values, and a check across columns with its rule, its line numbers and the first
    of those lines as the file has it."""
    rules_of = schema.to_schema()
    expected = ", ".join(rules_of.columns)
    missing = sorted(cases.loc[cases["check"] == "column_in_dataframe", "failure_case"].astype(str))
    unexpected = sorted(cases.loc[cases["check"] == "column_in_schema", "failure_case"].astype(str))
    if missing or unexpected:
        said = [f"column {name!r} is missing" for name in missing]
        said += [f"column {name!r} is not one of its columns" for name in unexpected]
        return f"{'; '.join(said)}; its first line must name the columns {expected}"
    rules = {check.name: check.description for check in rules_of.checks}
    problems = []
    for (column, check), failed in cases[cases["schema_context"] != "DataFrameSchema"].groupby(
        ["column", "check"], sort=True
    ):
        examples = ", ".join(repr(v) for v in failed["failure_case"].head(3))
        problems.append(f"{column} fails {check} on {_lines(_rows(failed))} (e.g. {examples})")
    for name, failed in cases[cases["schema_context"] == "DataFrameSchema"].groupby("check", sort=True):
        check = str(name)
        rows = _rows(failed)
        rule = f" ({rules[check].rstrip('.')})" if rules.get(check) else ""
        if rows:
            first = ", ".join(f"{column}={value!r}" for column, value in frame.iloc[rows[0]].items())
            problems.append(f"{check} fails on {_lines(rows)}{rule} (line {rows[0] + 2}: {first})")
        else:
            problems.append(f"{check}{rule}")
    return "; ".join(problems)


def _rows(failed: pd.DataFrame) -> list[int]:
    """The failing rows' positions in the frame, each once, in order."""
    return sorted({int(i) for i in failed["index"].dropna()})


def _lines(rows: list[int]) -> str:
    """`line 3` or `lines 2, 7`: the rows as the file numbers them (its first line names the columns), the first
    five."""
    shown = ", ".join(str(row + 2) for row in rows[:5])
    return ("line " if len(rows) == 1 else "lines ") + shown + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def load_reference_data(folder: Path, data_dir: Path | None = None) -> ReferenceData:
    """Read and validate every reference file in `folder`. With `data_dir`, files validated before (the same
    bytes, the same rules) are read from what that validation kept there instead of being validated again."""
    fingerprint = _fingerprint(folder) if data_dir is not None else None
    if data_dir is None or fingerprint is None:  # a file missing: validating it says which
        return _validated(folder)
    kept = data_dir / VALIDATED_FOLDER / fingerprint
    if kept.is_dir():
        with suppress(OSError, ValueError):  # unreadable or half-removed: validate again
            return ReferenceData({name: pd.read_parquet(kept / f"{name}.parquet") for name in REFERENCE_SCHEMAS})
    reference = _validated(folder)
    if _fingerprint(folder) == fingerprint:  # not kept when a file changed while it was validated
        _keep(reference, kept)
    return reference


def _validated(folder: Path) -> ReferenceData:
    return ReferenceData({name: load_reference_table(folder, name) for name in REFERENCE_SCHEMAS})


def _fingerprint(folder: Path) -> str | None:
    """The reference files' bytes and the rules that validate them, hashed; None when a file is missing."""
    digest = hashlib.sha256()
    for rules in (Path(__file__), Path(reference_schemas.__file__ or "")):
        digest.update(rules.read_bytes())
    for name in REFERENCE_SCHEMAS:
        path = folder / f"{name}.csv"
        if not path.is_file():
            return None
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def _keep(reference: ReferenceData, kept: Path) -> None:
    """Keep validated reference data as Parquet (written aside, then renamed: a reader never sees half of
    it), replacing what older files left; where the data folder is not writable, nothing is kept."""
    with suppress(OSError):
        kept.parent.mkdir(parents=True, exist_ok=True)
        for older in kept.parent.iterdir():
            shutil.rmtree(older, ignore_errors=True)
        writing = Path(tempfile.mkdtemp(prefix=".writing-", dir=kept.parent))
        writing.chmod(0o755)  # readable by whoever else runs imports here, as the data folder is
        try:
            for name, frame in reference.tables.items():
                frame.to_parquet(writing / f"{name}.parquet", index=False)
            writing.rename(kept)
        finally:
            shutil.rmtree(writing, ignore_errors=True)


def register_reference_data(con: duckdb.DuckDBPyConnection, reference: ReferenceData) -> None:
    """Copy the reference tables into temp tables `ref_<name>` of an import's DuckDB connection."""
    for name, frame in reference.tables.items():
        con.register(f"ref_{name}_frame", frame)
        con.execute(f"CREATE OR REPLACE TEMP TABLE ref_{name} AS SELECT * FROM ref_{name}_frame")
        con.unregister(f"ref_{name}_frame")


GUID_SQL_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def compare_guids_in_lower_case(con: duckdb.DuckDBPyConnection, provider: str) -> None:
    """Write the provider's customer and subscription GUIDs in the registered reference tables in lower case, as
    the Partner Center connector writes them on the lines: a GUID's case carries no meaning (RFC 4122), and
    Microsoft sends either."""
    for table, column in (("ref_provider_accounts", "provider_account_id"), ("ref_subscriptions", "subscription_id")):
        con.execute(
            f"UPDATE {table} SET {column} = lower(trim({column})) "
            f"WHERE provider = ? AND regexp_full_match(trim({column}), '{GUID_SQL_PATTERN}')",
            [provider],
        )
