"""``python -m features etl``: validate the raw tables, quarantine bad rows, de-identify the rest.

Reads data/raw, writes data/clean (de-identified) and data/quarantine (bad rows with their
reasons, and a summary), each folder atomically, partition by patient (``features.partitions``)
on the engine (``features.engine``). For every table, rows in = rows accepted + rows quarantined;
a table whose quarantined share exceeds the configured limit fails the run before anything clean
is written.

What a fault costs is decided per field, in one place: a bad value in a field the clean tables
drop or may leave empty (``validation.NULLED_WHEN_INVALID``) is nulled and counted; a bad value
in any other field quarantines its row. A child row is an orphan only when its parent's key is
absent from the whole raw world, not when the parent row is in quarantine for another field (its
records stay clean, placed in time by the parent's recorded times); a stay whose patient is in
quarantine is held back too, since its age comes from the patient's birth date.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from configs import Settings
from configs.data_gen import Drug
from configs.engine import EngineConfig
from configs.features import Etl
from features import deidentify, engine, partitions, validation

CLEAN, QUARANTINE, SUMMARY = "clean", "quarantine", "summary.json"
# The tables of the hospital, not of its patients, are validated once, whole, for every partition
# (their size does not grow with the patients); the others are partitioned.
WHOLE = ("facilities", "nurse_staffing", "ed_providers")
PARTITIONED = [t for t in validation.TABLE_ORDER if t not in WHOLE]
SUMMARY_COLUMNS = [
    "table", "rows_in", "accepted", "quarantined", "quarantined_share", "values_nulled",
]  # fmt: skip
REASON_COLUMNS = ["table", "column", "check", "action", "rows"]

# Cross-table rules: (table, column, parent table, parent key, what an orphan lacks).
REFERENCES = [
    ("nurse_staffing", "facility_id", "facilities", "facility_id", "no such facility"),
    ("ed_providers", "facility_id", "facilities", "facility_id", "no such facility"),
    ("patients", "home_facility_id", "facilities", "facility_id", "no such facility"),
    ("encounters", "patient_id", "patients", "patient_id", "no such patient"),
    ("encounters", "facility_id", "facilities", "facility_id", "no such facility"),
    ("diagnoses", "encounter_id", "encounters", "encounter_id", "no such stay"),
    ("procedures", "encounter_id", "encounters", "encounter_id", "no such stay"),
    ("claims", "encounter_id", "encounters", "encounter_id", "no such stay"),
    ("medications", "encounter_id", "encounters", "encounter_id", "no such stay"),
    ("vitals", "encounter_id", "encounters", "encounter_id", "no such stay"),
    ("labs", "encounter_id", "encounters", "encounter_id", "no such stay"),
    ("ed_visits", "patient_id", "patients", "patient_id", "no such patient"),
    ("ed_visits", "facility_id", "facilities", "facility_id", "no such facility"),
    ("ed_visits", "encounter_id", "encounters", "encounter_id", "no such stay"),
]
# Rows that need their parent's accepted row, not only its key: (table, column, parent, key, why).
NEEDS_ACCEPTED_PARENT = [
    ("encounters", "patient_id", "patients", "patient_id", "its patient is in quarantine"),
]
# Records that must fall inside their stay: (table, time column).
DURING_STAY = [
    ("vitals", "observed_at"),
    ("labs", "drawn_at"),
    ("procedures", "performed_at"),
    ("medications", "ordered_at"),
    ("medications", "stopped_at"),
]
# Records that come after their stay has ended: (table, time column).
AFTER_STAY = [("claims", "billed_at")]


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


def validate_world(
    raw: dict[str, pd.DataFrame],
    etl: Etl,
    formulary: Mapping[str, Drug],
    accepted_parents: dict[str, pd.DataFrame] | None = None,
    repeated_rows: dict[str, set[int]] | None = None,
    parent_keys: dict[str, np.ndarray] | None = None,
) -> EtlResult:
    """Check every table of ``raw`` (the medications against the hospital's ``formulary``), then
    the rules between tables, parents before children.

    A child row is an orphan only when its parent's key is absent from the raw parent table, not
    when the parent row was quarantined for another field. ``parent_keys`` holds, per parent
    table, the keys present in the whole world (a partition sees only its own; by default they
    are read from ``raw``); ``accepted_parents`` parent tables validated elsewhere (the
    facilities, once for every partition); ``repeated_rows``, per table, the ``source_row`` of
    rows that repeat the key of an earlier row in another partition. Rows may carry their
    position in the raw table as a ``source_row`` column (partitions do); otherwise it is their
    position in ``raw``.
    """
    schemas = validation.schemas(etl, formulary)
    accepted = dict(accepted_parents or {})
    parent_keys = parent_keys or present_keys({**raw, **accepted})
    quarantine, summary, reasons = {}, [], []
    stays = stay_periods(raw["encounters"]) if "encounters" in raw else None
    for table in [t for t in validation.TABLE_ORDER if t in raw]:
        frame = raw[table].reset_index(drop=True)
        if partitions.SOURCE_ROW in frame:
            source_rows = frame.pop(partitions.SOURCE_ROW).to_numpy()
        else:
            source_rows = np.arange(len(frame))
        frame, nulled = validation.null_invalid(frame, schemas[table], table)
        valid, failures = validation.validate_table(frame, schemas[table], table)
        checks = _cross_table_failures(table, valid, accepted, parent_keys, stays)
        for column, check, failing in checks:
            failures.add(valid.index[failing], column, check)
        if repeated := (repeated_rows or {}).get(table):
            key = ", ".join(validation.KEYS[table])
            repeats = np.flatnonzero(np.isin(source_rows, list(repeated)))
            failures.add(repeats, "*", f"{key} is repeated")
        accepted[table] = valid.drop(index=failures.positions, errors="ignore").reset_index(
            drop=True
        )
        quarantine[table] = _quarantined_rows(frame, source_rows, failures)
        summary.append(
            {
                "table": table,
                "rows_in": len(frame),
                "accepted": len(accepted[table]),
                "quarantined": len(quarantine[table]),
                "quarantined_share": len(quarantine[table]) / max(len(frame), 1),
                "values_nulled": sum(len(set(r)) for r in nulled.reasons.values()),
            }
        )
        for action, found in (("quarantined", failures), ("nulled", nulled)):
            counted = pd.Series([r for rs in found.reasons.values() for r in set(rs)], dtype=object)
            for (column, check), rows in counted.value_counts().items():
                reasons.append(
                    {"table": table, "column": column, "check": check, "action": action,
                     "rows": int(rows)}
                )  # fmt: skip
    return EtlResult(
        {t: accepted[t] for t in raw if t in accepted},
        quarantine,
        pd.DataFrame(summary, columns=SUMMARY_COLUMNS),
        pd.DataFrame(reasons, columns=REASON_COLUMNS),
    )


def present_keys(tables: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """Per parent table of ``REFERENCES``, the keys its rows carry (readable ones, as numbers)."""
    keys = {}
    for _, _, parent, key, _ in REFERENCES:
        if parent in tables:
            values = pd.to_numeric(tables[parent][key], errors="coerce").dropna()
            keys[parent] = np.unique(values.to_numpy(dtype="float64"))
    return keys


def stay_periods(encounters: pd.DataFrame) -> pd.DataFrame:
    """Each stay's period as recorded, by encounter_id, whether or not the stay passes its checks
    (the times of a stay in quarantine for another field still place its records)."""
    ids = pd.to_numeric(encounters["encounter_id"], errors="coerce")
    admitted, discharged = (
        pd.to_datetime(encounters[c], errors="coerce").to_numpy()
        for c in ("admitted_at", "discharged_at")
    )
    swapped = discharged < admitted  # a stay recorded back to front still spans its records
    periods = pd.DataFrame(
        {
            "start": np.where(swapped, discharged, admitted),
            "end": np.where(swapped, admitted, discharged),
        },
        index=ids.to_numpy(),
    )
    return periods[~periods.index.duplicated(keep="first") & ids.notna().to_numpy()]


def _cross_table_failures(
    table: str,
    frame: pd.DataFrame,
    accepted: dict[str, pd.DataFrame],
    parent_keys: dict[str, np.ndarray],
    stays: pd.DataFrame | None,
) -> list[tuple[str, str, np.ndarray]]:
    failures = []
    for child, column, parent, _, orphan in REFERENCES:
        if child == table:
            known = frame[column].isna() | frame[column].isin(parent_keys[parent])
            failures.append((column, orphan, ~known.to_numpy()))
    for child, column, parent, key, why in NEEDS_ACCEPTED_PARENT:
        if child == table:  # the stay's age is computed from its patient's birth date
            held = frame[column].isin(parent_keys[parent]) & ~frame[column].isin(
                accepted[parent][key]
            )
            failures.append((column, why, held.to_numpy()))
    for child, column in DURING_STAY:
        if child == table:
            admitted = frame["encounter_id"].map(stays["start"])
            discharged = frame["encounter_id"].map(stays["end"])
            # A bound that is not recorded (a stay in quarantine for it) cannot be checked.
            inside = (admitted.isna() | (frame[column] >= admitted)) & (
                discharged.isna() | (frame[column] <= discharged)
            )
            failures.append((column, "outside its stay", ~inside.to_numpy()))
    for child, column in AFTER_STAY:
        if child == table:
            early = frame[column] < frame["encounter_id"].map(stays["end"])
            failures.append((column, "before its stay ended", early.to_numpy()))
    return failures


def _quarantined_rows(
    frame: pd.DataFrame, source_rows: np.ndarray, failures: validation.Failures
) -> pd.DataFrame:
    positions = failures.positions
    rows = frame.iloc[positions].copy()
    rows.insert(0, partitions.SOURCE_ROW, source_rows[positions])
    rows["failed_checks"] = [
        "; ".join(f"{column}: {check}" for column, check in sorted(set(failures.reasons[p])))
        for p in positions.tolist()
    ]
    return rows.reset_index(drop=True)


def run_etl(
    settings: Settings,
    data_dir: Path,
    key_root: Path = Path(),
    progress: Callable[[str, int, int], None] | None = None,
) -> EtlResult:
    """Read data/raw, write data/quarantine and (when within the limit) data/clean, partition by
    partition (see ``features.partitions``); the result holds the counts, not the rows."""
    etl, data_dir = settings.features.etl, data_dir.resolve()
    raw_dir = data_dir / "raw"
    missing = [t for t in validation.TABLE_ORDER if not (raw_dir / f"{t}.parquet").exists()]
    if missing:
        raise FileNotFoundError(f"{raw_dir} lacks {', '.join(missing)}: run `make data` first")
    key = deidentify.load_key(etl, key_root)
    n_patients = pq.ParquetFile(raw_dir / "patients.parquet").metadata.num_rows
    split = partitions.split_world(
        data_dir,
        [f"raw/{t}" for t in PARTITIONED],
        partitions.partition_count(n_patients, settings.engine),
        engine.step_progress(progress, "split by patient"),
    )
    formulary = settings.data_gen.medications.formulary
    hospital = validate_world(
        {table: pd.read_parquet(raw_dir / f"{table}.parquet") for table in WHOLE}, etl, formulary
    )
    repeated = _repeated_rows(split, settings.engine)
    keys = _world_keys(split, hospital.accepted, settings.engine)
    staged = partitions.StagedParts(
        data_dir,
        "etl",
        {
            "split": split.identity,
            "etl": etl.model_dump(mode="json"),
            "formulary": {name: drug.model_dump(mode="json") for name, drug in formulary.items()},
            "key": deidentify.key_id(key),
        },
    )
    # The world's keys travel as a file beside the parts, not inside every worker's task.
    keys_file = staged.folder / "world_keys.npz"
    np.savez(keys_file, **keys)
    work = functools.partial(
        _etl_partition, split, staged, etl, formulary, hospital.accepted["facilities"],
        repeated, keys_file, key,
    )  # fmt: skip
    engine.map_partitions(
        work,
        staged.todo(split.n),
        settings.engine,
        "etl",
        engine.step_progress(progress, "partitions"),
    )
    done = [staged.result(part) for part in range(split.n)]
    summary = pd.concat(
        [hospital.summary, *(pd.DataFrame(d["summary"], columns=SUMMARY_COLUMNS) for d in done)]
    )
    counts = ["rows_in", "accepted", "quarantined", "values_nulled"]
    summary = summary.groupby("table", sort=False)[counts].sum()
    summary["quarantined_share"] = summary["quarantined"] / summary["rows_in"].clip(lower=1)
    summary = summary.reset_index()[SUMMARY_COLUMNS]
    reasons = pd.concat(
        [hospital.reasons, *(pd.DataFrame(d["reasons"], columns=REASON_COLUMNS) for d in done)]
    )
    reasons = reasons.groupby(REASON_COLUMNS[:-1], as_index=False, sort=True)["rows"].sum()
    result = EtlResult({}, {}, summary, reasons)

    for table in WHOLE:
        staged.write(QUARANTINE, table, 0, hospital.quarantine[table])
    (staged.folder / QUARANTINE / SUMMARY).write_text(
        json.dumps(
            {
                "tables": summary.to_dict(orient="records"),
                "reasons": reasons.to_dict(orient="records"),
                "max_quarantine_share": etl.max_quarantine_share,
            },
            indent=2,
        )
        + "\n"
    )
    staged.publish(QUARANTINE, data_dir / QUARANTINE)
    over = result.over_limit(etl.max_quarantine_share)
    if len(over):
        staged.discard()
        shares = ", ".join(f"{r.table} {r.quarantined_share:.1%}" for r in over.itertuples())
        raise QuarantineLimitError(
            f"quarantined share above the limit of {etl.max_quarantine_share:.1%} "
            f"(features.etl.max_quarantine_share): {shares}. Nothing clean was written; "
            f"see {data_dir / QUARANTINE / SUMMARY} and the rows in {data_dir / QUARANTINE}/."
        )
    for table in WHOLE:
        staged.write(CLEAN, table, 0, hospital.accepted[table])
    staged.publish(CLEAN, data_dir / CLEAN)
    staged.discard()
    return result


def _etl_partition(
    split: partitions.Split,
    staged: partitions.StagedParts,
    etl: Etl,
    formulary: Mapping[str, Drug],
    facilities: pd.DataFrame,
    repeated: dict[str, set[int]],
    keys_file: Path,
    key: bytes,
    part: int,
) -> None:
    """Validate, quarantine and de-identify one partition; its parts and counts go to ``staged``."""
    raw = {table: split.read(f"raw/{table}", part) for table in PARTITIONED}
    with np.load(keys_file) as keys:
        parent_keys = {parent: keys[parent] for parent in keys.files}
    result = validate_world(raw, etl, formulary, {"facilities": facilities}, repeated, parent_keys)
    clean = deidentify.deidentify({**result.accepted, "facilities": facilities}, etl, key)
    for table in PARTITIONED:
        staged.write(CLEAN, table, part, clean[table])
        staged.write(QUARANTINE, table, part, result.quarantine[table])
    staged.complete(
        part,
        {
            "summary": result.summary.to_dict(orient="records"),
            "reasons": result.reasons.to_dict(orient="records"),
        },
    )


def _repeated_rows(split: partitions.Split, engine_config: EngineConfig) -> dict[str, set[int]]:
    """Per table, the rows whose key repeats an earlier row's in another partition (a partition
    sees the repeats within it itself): DuckDB over the raw files, out of core."""
    if split.n == 1:
        return {}
    repeated = {}
    with partitions.duckdb_connection(engine_config) as sql:
        for table in PARTITIONED:
            keys = validation.KEYS[table]
            if partitions.ROUTES[f"raw/{table}"] == keys[0]:
                continue  # rows with the same key share a partition
            cast = ", ".join(f"TRY_CAST({k} AS BIGINT) AS {k}" for k in keys)
            rows = sql.execute(
                f"""
                WITH rows AS (
                    SELECT {cast}, file_row_number AS row
                    FROM read_parquet(?, file_row_number = true)
                )
                SELECT row FROM rows WHERE {" AND ".join(f"{k} IS NOT NULL" for k in keys)}
                QUALIFY row_number() OVER (PARTITION BY {", ".join(keys)} ORDER BY row) > 1
                """,
                [str(split.sources[f"raw/{table}"])],
            ).fetchall()
            if rows:
                repeated[table] = {row for (row,) in rows}
    return repeated


def _world_keys(
    split: partitions.Split, facilities: dict[str, pd.DataFrame], engine_config: EngineConfig
) -> dict[str, np.ndarray]:
    """The keys of the parent tables in the whole world (8 bytes a patient or a stay): DuckDB
    over the raw files, or the tables themselves when the world is one partition."""
    if split.n == 1:
        return {}  # validate_world reads them from the partition, which is the world
    keys = present_keys(facilities)
    with partitions.duckdb_connection(engine_config) as sql:
        for _, _, parent, key, _ in REFERENCES:
            if parent not in keys:
                keys[parent] = np.sort(
                    sql.execute(
                        f"SELECT DISTINCT TRY_CAST({key} AS DOUBLE) AS k FROM read_parquet(?) "
                        "WHERE k IS NOT NULL",
                        [str(split.sources[f"raw/{parent}"])],
                    ).fetchnumpy()["k"]
                )
    return keys
