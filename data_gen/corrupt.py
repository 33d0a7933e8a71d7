"""Realistic faults injected into raw tables, to exercise and demonstrate the ETL's quarantine.

``corrupt_tables`` is pure: it returns damaged copies and, per table, the positions of the rows it
damaged (appended duplicates included), so that tests can check every one is caught.
``python -m data_gen corrupt --rate 0.02`` applies it to data/raw in place, atomically, and marks
the manifest so that the next ``make data`` regenerates a clean world.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from data_gen import generate

Fault = Callable[[pd.DataFrame, np.ndarray, np.random.Generator], pd.DataFrame]
UNKNOWN_ID = 9_000_000_000_000  # no generated key is this large
REQUIRED = {  # columns that must never be empty
    "patients": ["patient_id", "birth_date", "sex", "payer"],
    "encounters": [
        "encounter_id",
        "patient_id",
        "admitted_at",
        "primary_dx_code",
        "total_cost_usd",
    ],
    "diagnoses": ["encounter_id", "code"],
    "procedures": ["encounter_id", "code", "performed_at"],
    "claims": ["encounter_id", "payer", "billed_at", "paid_usd"],
    "medications": ["encounter_id", "rxnorm_code", "dose", "ordered_at"],
    "vitals": ["encounter_id", "observed_at", "heart_rate", "spo2", "consciousness"],
    "labs": ["encounter_id", "drawn_at", "test", "value"],
    "ed_visits": ["patient_id", "arrival_at", "disposition"],
    "nurse_staffing": ["facility_id", "unit", "shift_start", "worked_rn"],
}
KEYS = {
    "patients": ["patient_id"],
    "encounters": ["encounter_id"],
    "diagnoses": ["encounter_id", "position"],
    "procedures": ["procedure_id"],
    "claims": ["encounter_id"],
    "medications": ["order_id"],
    "vitals": ["observation_id"],
    "labs": ["lab_id"],
    "ed_visits": ["ed_visit_id"],
}


def _set(frame: pd.DataFrame, rows: np.ndarray, column: str, values) -> pd.DataFrame:
    frame.loc[rows, column] = values
    return frame


def _nulls(table: str) -> Fault:
    def fault(frame, rows, rng):
        columns = np.array(REQUIRED[table])[rng.integers(0, len(REQUIRED[table]), len(rows))]
        for column in np.unique(columns):
            if frame[column].dtype.kind in "iub":  # integers and booleans cannot hold a null
                frame[column] = frame[column].astype(
                    "float64" if frame[column].dtype.kind == "i" else object
                )
            frame.loc[rows[columns == column], column] = None
        return frame

    return fault


def _wrong_type(column: str) -> Fault:
    """Free text where a number belongs: the whole column becomes text, as in a bad export."""

    def fault(frame, rows, rng):
        frame[column] = frame[column].astype(str).astype(object)
        frame.loc[rows, column] = rng.choice(["n/a", "??", "see note", "1,5"], len(rows))
        return frame

    return fault


def _orphan(column: str) -> Fault:
    return lambda frame, rows, rng: _set(frame, rows, column, UNKNOWN_ID + rows)


def _shift(column: str, days: float) -> Fault:
    return lambda frame, rows, rng: _set(
        frame, rows, column, frame.loc[rows, column] + pd.Timedelta(days=days)
    )


def _replace(column: str, values: list) -> Fault:
    return lambda frame, rows, rng: _set(frame, rows, column, rng.choice(values, len(rows)))


def _swap_admission_and_discharge(frame, rows, rng):
    admitted = frame.loc[rows, "admitted_at"].to_numpy()
    frame.loc[rows, "admitted_at"] = frame.loc[rows, "discharged_at"].to_numpy()
    frame.loc[rows, "discharged_at"] = admitted
    return frame


def _negative(column: str) -> Fault:
    return lambda frame, rows, rng: _set(frame, rows, column, -frame.loc[rows, column].abs() - 1)


def _out_of_range_vitals(frame, rows, rng):
    columns = rng.choice(["heart_rate", "spo2", "temperature_c", "systolic_bp"], len(rows))
    impossible = {"heart_rate": 400, "spo2": 140, "temperature_c": 51.5, "systolic_bp": -20}
    for column, value in impossible.items():
        frame.loc[rows[columns == column], column] = value
    return frame


def _out_of_range(column: str, values: list[int]) -> Fault:
    """Integers beyond a small column's range (the column widened to hold them)."""

    def fault(frame, rows, rng):
        frame[column] = frame[column].astype("int64")
        return _set(frame, rows, column, rng.choice(values, len(rows)))

    return fault


def _nurses_do_not_add_up(frame, rows, rng):
    frame["worked_rn"] = frame["worked_rn"].astype("float64")  # it may hold injected nulls
    extra = rng.integers(1, 4, len(rows))
    return _set(frame, rows, "worked_rn", frame.loc[rows, "worked_rn"] + extra)


def _paid_above_allowed(frame, rows, rng):
    return _set(frame, rows, "paid_usd", frame.loc[rows, "allowed_usd"] * 1.5 + 100.0)


def _triage_before_arrival(frame, rows, rng):
    return _set(frame, rows, "triage_at", frame.loc[rows, "arrival_at"] - pd.Timedelta(hours=3))


MALFORMED_ICD10 = ["I50-9", "XYZ", "123.4", "A41.", "i50.9", "J44.1.2"]
FAULTS: dict[str, dict[str, Fault]] = {
    "nurse_staffing": {
        "null": _nulls("nurse_staffing"),
        "negative_nurses": _negative("scheduled_rn"),
        "unknown_unit": _replace("unit", ["telemetry", "Ward 4B", "medicne"]),
        "nurses_do_not_add_up": _nurses_do_not_add_up,
        "orphan": _orphan("facility_id"),
    },
    "ed_providers": {
        "hour_out_of_range": _out_of_range("hour", [24, 25, -1]),
        "no_provider": _out_of_range("providers", [0, -2]),
        "orphan": _orphan("facility_id"),
    },
    "patients": {
        "null": _nulls("patients"),
        "malformed_ssn": _replace("ssn", ["000-12-3456", "123456789", "666-01-0001"]),
    },
    "encounters": {
        "null": _nulls("encounters"),
        "discharge_before_admission": _swap_admission_and_discharge,
        "negative_cost": _negative("total_cost_usd"),
        "malformed_icd10": _replace("primary_dx_code", MALFORMED_ICD10),
        "orphan": _orphan("patient_id"),
        "wrong_type": _wrong_type("icu_days"),
    },
    "diagnoses": {
        "null": _nulls("diagnoses"),
        "malformed_icd10": _replace("code", MALFORMED_ICD10),
        "orphan": _orphan("encounter_id"),
    },
    "procedures": {
        "malformed_icd10_pcs": _replace("code", ["0SRC0J", "0SRC0JI", "0sRC0J9"]),
        "orphan": _orphan("encounter_id"),
    },
    "claims": {
        "null": _nulls("claims"),
        "unknown_payer": _replace("payer", ["Medicare", "blue_cross", "self-pay"]),
        "negative_charges": _negative("charges_usd"),
        "paid_above_allowed": _paid_above_allowed,
        "billed_before_discharge": _shift("billed_at", -90),
        "orphan": _orphan("encounter_id"),
    },
    "medications": {
        "null": _nulls("medications"),
        "malformed_code": _replace("rxnorm_code", ["RX11289", "", "11289.0"]),
        "non_positive_dose": _replace("dose", [0.0, -5.0]),
        "unknown_code": _replace("rxnorm_code", ["99999999", "1", "424242"]),  # no such drug
        "absurd_dose": _replace("dose", [1e5, 2.5e6]),  # above every drug's largest dose
        "unknown_route": _replace("route", ["po", "IV push", "topical"]),
        "outside_stay": _shift("ordered_at", -400),
        "orphan": _orphan("encounter_id"),
    },
    "vitals": {
        "null": _nulls("vitals"),
        "out_of_range": _out_of_range_vitals,
        "orphan": _orphan("encounter_id"),
        "outside_stay": _shift("observed_at", 400),
        "wrong_type": _wrong_type("heart_rate"),
    },
    "labs": {
        "null": _nulls("labs"),
        "out_of_range": _replace("value", [-1.0, 9999.0]),
        "orphan": _orphan("encounter_id"),
        "outside_stay": _shift("drawn_at", -400),
    },
    "ed_visits": {
        "null": _nulls("ed_visits"),
        "out_of_order": _triage_before_arrival,
        "orphan": _orphan("patient_id"),
    },
}


def corrupt_tables(
    tables: dict[str, pd.DataFrame], rate: float, seed: int
) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray], Counter]:
    """Damage about ``rate`` of the rows of every table (facilities excepted).

    Returns the damaged tables, the positions of the damaged rows per table, and a count of the
    faults injected by (table, fault). Duplicate keys are appended copies of existing rows.
    """
    if not 0.0 <= rate <= 0.5:
        raise ValueError(f"rate must lie between 0 and 0.5 (got {rate})")
    rng = np.random.default_rng(seed)
    damaged, positions, counts = dict(tables), {}, Counter()
    for table, faults in FAULTS.items():
        frame = tables[table].reset_index(drop=True).copy()
        n = round(rate * len(frame))
        names = [*faults, "duplicate_key"]
        chosen = np.sort(rng.choice(len(frame), size=min(n, len(frame)), replace=False))
        kinds = np.array(names)[rng.integers(0, len(names), len(chosen))]
        for name, fault in faults.items():
            rows = chosen[kinds == name]
            if len(rows):
                frame = fault(frame, rows, rng)
                counts[table, name] += len(rows)
        copies = chosen[kinds == "duplicate_key"]
        counts[table, "duplicate_key"] += len(copies)
        frame = pd.concat([frame, frame.iloc[copies]], ignore_index=True)
        appended = np.arange(len(frame) - len(copies), len(frame))
        damaged[table] = frame
        positions[table] = np.concatenate([chosen[kinds != "duplicate_key"], appended])
    return damaged, positions, counts


def damage_values(
    tables: dict[str, pd.DataFrame], value_rate: float, duplicate_rate: float, seed: int
) -> tuple[dict[str, pd.DataFrame], dict[str, np.ndarray]]:
    """Generic damage, blind to meaning: about ``value_rate`` of the values of every column of the
    clinical tables become an absurd number, a blank or a junk string, and ``duplicate_rate`` of
    the rows are appended again. Returns the damaged tables and, per table, the rows damaged."""
    rng = np.random.default_rng(seed)
    damaged, positions = dict(tables), {}
    for table in FAULTS:
        frame = tables[table].reset_index(drop=True).copy()
        hit = np.zeros(len(frame), dtype=bool)
        for column in frame.columns:
            rows = np.flatnonzero(rng.random(len(frame)) < value_rate)
            if not len(rows):
                continue
            frame[column] = frame[column].astype(object)
            kinds = rng.integers(0, 3, len(rows))
            junk = rng.choice(["#N/A", "??", "-", "NULL!", "1e99x"], len(rows))
            frame.loc[rows, column] = np.where(
                kinds == 0, -987654.0, np.where(kinds == 1, None, junk)
            ).tolist()
            hit[rows] = True
        copies = np.flatnonzero(rng.random(len(frame)) < duplicate_rate)
        frame = pd.concat([frame, frame.iloc[copies]], ignore_index=True)
        damaged[table] = frame
        positions[table] = np.concatenate(
            [np.flatnonzero(hit), np.arange(len(frame) - len(copies), len(frame))]
        )
    return damaged, positions


def corrupt_world(data_dir: Path, rate: float, seed: int) -> Counter:
    """Damage ``data_dir/raw`` in place, atomically; the manifest records what was injected."""
    raw = data_dir / "raw"
    manifest_path = raw / generate.MANIFEST
    if not manifest_path.exists():
        raise FileNotFoundError(f"no generated world in {raw}: run `make data` first")
    manifest = json.loads(manifest_path.read_text())
    tables = {name: pd.read_parquet(raw / f"{name}.parquet") for name in FAULTS}
    damaged, _, counts = corrupt_tables(tables, rate, seed)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=data_dir))
    try:
        shutil.copytree(raw, staging / "raw")
        for name, frame in damaged.items():
            path = staging / "raw" / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            manifest["tables"][name].update(generate.table_entry(path))
        manifest["fingerprint"] = None  # no longer the world its configuration describes
        manifest["corruption"] = {
            "rate": rate,
            "seed": seed,
            "faults": {f"{table}.{fault}": n for (table, fault), n in sorted(counts.items())},
        }
        (staging / "raw" / generate.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        generate.swap(staging / "raw", raw)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return counts
