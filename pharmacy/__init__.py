"""Pharmacy analytics over the clean tables: drug-interaction alerts judged against the harm
that followed (``alerts``), and the efficacy study of antibiotic timing (``efficacy``).

Imports flow as for the other analysis stages: ``pharmacy`` reads ``features`` and ``configs``;
the dashboard reads ``pharmacy``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from configs import Settings
from features import deidentify


class PharmacyError(ValueError):
    """A pharmacy question the records cannot answer: no orders, an empty period."""


def oracle_rows(
    path: Path, columns: list[str], settings: Settings, stays: pd.Series, key_root: Path = Path()
) -> pd.DataFrame:
    """An oracle table's ``columns`` (``path``: data/oracle/...), keyed by the clean tables'
    pseudonyms (encounter_key): for judging an analysis against the truth, never an input to it.
    The pseudonyms must be those of the clean ``stays``: another key would match none."""
    if not path.exists():
        raise FileNotFoundError(f"no {path}: run `make data` first")
    if missing := sorted(set(columns) - set(pq.read_schema(path).names)):
        raise PharmacyError(
            f"{path} has no {', '.join(missing)}: it was written by an older generator; run "
            "`make data` (then `make etl`) again"
        )
    rows = pd.read_parquet(path, columns=["encounter_id", *columns])
    key = deidentify.load_key(settings.features.etl, key_root)
    keys = deidentify.pseudonyms(rows.pop("encounter_id"), "encounter", key)
    if len(keys) and not keys.isin(stays).any():
        raise PharmacyError(
            "the oracle's stays match none of the clean ones: the pseudonymisation key "
            f"(${settings.features.etl.key_env} or {settings.features.etl.key_file}) is not the "
            "one the ETL used; run `make etl` with this key"
        )
    return rows.assign(encounter_key=keys.to_numpy())
