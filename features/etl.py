"""``python -m features etl``: validate the raw tables, quarantine bad rows, de-identify the rest.

Reads data/raw, writes data/clean (de-identified) and data/quarantine (bad rows with their
reasons, and a summary), each folder atomically. For every table, rows in = rows accepted + rows
quarantined; a table whose quarantined share exceeds the configured limit fails the run before
anything clean is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from configs import Settings
from configs.features import Etl
from features import deidentify, validation
from features.io import atomic_folder, write_table

CLEAN, QUARANTINE, SUMMARY = "clean", "quarantine", "summary.json"

# Cross-table rules: (table, column, parent table, parent key, what an orphan lacks).
REFERENCES = [
    ("patients", "home_facility_id", "facilities", "facility_id", "no such facility"),
    ("encounters", "patient_id", "patients", "patient_id", "no such patient"),
    ("encounters", "facility_id", "facilities", "facility_id", "no such facility"),
    ("diagnoses", "encounter_id", "encounters", "encounter_id", "no such stay"),
    ("procedures", "encounter_id", "encounters", "encounter_id", "no such stay"),
    ("vitals", "encounter_id", "encounters", "encounter_id", "no such stay"),
    ("labs", "encounter_id", "encounters", "encounter_id", "no such stay"),
    ("ed_visits", "patient_id", "patients", "patient_id", "no such patient"),
    ("ed_visits", "facility_id", "facilities", "facility_id", "no such facility"),
    ("ed_visits", "encounter_id", "encounters", "encounter_id", "no such stay"),
]
# Records that must fall inside their stay: (table, time column).
DURING_STAY = [("vitals", "observed_at"), ("labs", "drawn_at"), ("procedures", "performed_at")]


class QuarantineLimitError(RuntimeError):
    """Too large a share of some table failed validation to trust the rest."""


@dataclass(frozen=True)
class EtlResult:
    accepted: dict[str, pd.DataFrame]
    quarantine: dict[str, pd.DataFrame]
    summary: pd.DataFrame  # per table: rows_in, accepted, quarantined, share
    reasons: pd.DataFrame  # per table, column and check: rows

    def over_limit(self, limit: float) -> pd.DataFrame:
        return self.summary[self.summary["quarantined_share"] > limit]


def validate_world(raw: dict[str, pd.DataFrame], etl: Etl) -> EtlResult:
    """Check every table, then the rules between tables, parents before children."""
    schemas = validation.schemas(etl)
    accepted, quarantine, summary, reasons = {}, {}, [], []
    for table in validation.TABLE_ORDER:
        frame = raw[table].reset_index(drop=True)
        valid, failures = validation.validate_table(frame, schemas[table], table)
        for column, check, failing in _cross_table_failures(table, valid, accepted):
            failures.add(valid.index[failing], column, check)
        accepted[table] = valid.drop(index=failures.positions, errors="ignore").reset_index(
            drop=True
        )
        quarantine[table] = _quarantined_rows(frame, failures)
        summary.append(
            {
                "table": table,
                "rows_in": len(frame),
                "accepted": len(accepted[table]),
                "quarantined": len(quarantine[table]),
                "quarantined_share": len(quarantine[table]) / max(len(frame), 1),
            }
        )
        counted = pd.Series([r for rs in failures.reasons.values() for r in set(rs)], dtype=object)
        for (column, check), rows in counted.value_counts().items():
            reasons.append({"table": table, "column": column, "check": check, "rows": int(rows)})
    return EtlResult(
        accepted,
        quarantine,
        pd.DataFrame(summary),
        pd.DataFrame(reasons, columns=["table", "column", "check", "rows"]),
    )


def _cross_table_failures(
    table: str, frame: pd.DataFrame, accepted: dict[str, pd.DataFrame]
) -> list[tuple[str, str, np.ndarray]]:
    failures = []
    for child, column, parent, key, orphan in REFERENCES:
        if child == table:
            known = frame[column].isna() | frame[column].isin(accepted[parent][key])
            failures.append((column, orphan, ~known.to_numpy()))
    for child, column in DURING_STAY:
        if child == table:
            stays = accepted["encounters"].set_index("encounter_id")
            admitted = frame["encounter_id"].map(stays["admitted_at"])
            discharged = frame["encounter_id"].map(stays["discharged_at"])
            inside = (frame[column] >= admitted) & (frame[column] <= discharged)
            failures.append((column, "outside its stay", ~(inside | admitted.isna()).to_numpy()))
    return failures


def _quarantined_rows(frame: pd.DataFrame, failures: validation.Failures) -> pd.DataFrame:
    positions = failures.positions
    rows = frame.iloc[positions].copy()
    rows.insert(0, "source_row", positions)
    rows["failed_checks"] = [
        "; ".join(f"{column}: {check}" for column, check in sorted(set(failures.reasons[p])))
        for p in positions.tolist()
    ]
    return rows.reset_index(drop=True)


def run_etl(settings: Settings, data_dir: Path, key_root: Path = Path()) -> EtlResult:
    """Read data/raw, write data/quarantine and (when within the limit) data/clean."""
    etl = settings.features.etl
    raw_dir = data_dir / "raw"
    missing = [t for t in validation.TABLE_ORDER if not (raw_dir / f"{t}.parquet").exists()]
    if missing:
        raise FileNotFoundError(f"{raw_dir} lacks {', '.join(missing)}: run `make data` first")
    raw = {t: pd.read_parquet(raw_dir / f"{t}.parquet") for t in validation.TABLE_ORDER}
    result = validate_world(raw, etl)

    with atomic_folder(data_dir / QUARANTINE) as folder:
        for table, rows in result.quarantine.items():
            write_table(rows, folder / f"{table}.parquet")
        report = {
            "tables": result.summary.to_dict(orient="records"),
            "reasons": result.reasons.to_dict(orient="records"),
            "max_quarantine_share": etl.max_quarantine_share,
        }
        (folder / SUMMARY).write_text(json.dumps(report, indent=2) + "\n")

    over = result.over_limit(etl.max_quarantine_share)
    if len(over):
        shares = ", ".join(f"{r.table} {r.quarantined_share:.1%}" for r in over.itertuples())
        raise QuarantineLimitError(
            f"quarantined share above the limit of {etl.max_quarantine_share:.1%} "
            f"(features.etl.max_quarantine_share): {shares}. Nothing clean was written; "
            f"see {data_dir / QUARANTINE / SUMMARY} and the rows in {data_dir / QUARANTINE}/."
        )
    clean = deidentify.deidentify(result.accepted, etl, deidentify.load_key(etl, key_root))
    with atomic_folder(data_dir / CLEAN) as folder:
        for table, frame in clean.items():
            write_table(frame, folder / f"{table}.parquet")
    return result
