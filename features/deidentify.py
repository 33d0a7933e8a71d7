"""De-identification of validated tables, following HIPAA Safe Harbor for what the issue lists.

- Names, street address, phone, SSN and MRN are dropped.
- Patient and stay identifiers become keyed pseudonyms (HMAC-SHA256 with a secret kept outside the
  repository), so records still link across tables but cannot be traced back without the key.
  Row identifiers of child tables (observations, labs, procedures, ED visits) are dropped, and so
  are claim numbers (account numbers are direct identifiers under Safe Harbor).
- The birth date becomes the age at admission, with ages above 89 reported as 90.
- The ZIP code keeps its first three digits, or 000 for the sparsely populated ZIP3 areas.

Admission, discharge and event times are kept (the KPIs and time-based splits need them), which
makes the clean tables a HIPAA limited data set rather than fully Safe Harbor de-identified.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import pandas as pd

from configs.features import Etl

PSEUDONYM_HEX_DIGITS = 16  # 64 bits: collisions are negligible below billions of records
DIRECT_IDENTIFIERS = (
    "mrn",
    "ssn",
    "first_name",
    "last_name",
    "address",
    "city",
    "phone",
    "birth_date",
    "zip",
)


class PseudonymKeyError(RuntimeError):
    """The pseudonymisation key cannot be read or created."""


def load_key(etl: Etl, root: Path) -> bytes:
    """The secret from ``etl.key_env``, else ``etl.key_file`` (created on first use, mode 0600)."""
    if value := os.environ.get(etl.key_env):
        return value.encode()
    path = root / etl.key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    key = path.read_text().strip()
    if len(key) < 32:
        raise PseudonymKeyError(f"{path}: the pseudonymisation key must be at least 32 characters")
    return key.encode()


def key_id(key: bytes) -> str:
    """Names a key (to tell whether staged work used it) without revealing it."""
    return hmac.new(key, b"key-id", hashlib.sha256).hexdigest()[:16]


def pseudonyms(values: pd.Series, domain: str, key: bytes) -> pd.Series:
    """Keyed pseudonym of each value (missing stays missing); ``domain`` separates id spaces."""
    present = values.dropna()
    unique = pd.unique(present)
    mapped = {
        value: hmac.new(key, f"{domain}:{value}".encode(), hashlib.sha256).hexdigest()[
            :PSEUDONYM_HEX_DIGITS
        ]
        for value in unique.tolist()
    }
    return values.map(mapped).astype("string")


def age_years(birth: pd.Series, at: pd.Series, cap: int) -> pd.Series:
    """Completed years of age at ``at``, with every age above ``cap - 1`` reported as ``cap``."""
    birth, at = pd.to_datetime(birth), pd.to_datetime(at)
    had_birthday = (at.dt.month > birth.dt.month) | (
        (at.dt.month == birth.dt.month) & (at.dt.day >= birth.dt.day)
    )
    years = at.dt.year - birth.dt.year - (~had_birthday).astype(int)
    return years.clip(upper=cap).astype("int16")


def zip3(zip_codes: pd.Series, restricted: list[str]) -> pd.Series:
    first_three = zip_codes.astype("string").str[:3]
    return first_three.where(~first_three.isin(restricted), "000")


def deidentify(accepted: dict[str, pd.DataFrame], etl: Etl, key: bytes) -> dict[str, pd.DataFrame]:
    """Clean tables from validated raw tables: no direct identifier, pseudonymous keys."""
    patients, encounters = accepted["patients"], accepted["encounters"]

    def patient_key(ids: pd.Series) -> pd.Series:
        return pseudonyms(ids, "patient", key)

    def encounter_key(ids: pd.Series) -> pd.Series:
        return pseudonyms(ids, "encounter", key)

    birth = encounters["patient_id"].map(patients.set_index("patient_id")["birth_date"])
    clean_encounters = encounters.drop(columns=["encounter_id", "patient_id"]).assign(
        encounter_key=encounter_key(encounters["encounter_id"]),
        patient_key=patient_key(encounters["patient_id"]),
        age_years=age_years(birth, encounters["admitted_at"], etl.age_cap_years),
    )
    clean = {
        "facilities": accepted["facilities"],
        "patients": patients.drop(columns=[*DIRECT_IDENTIFIERS, "patient_id"]).assign(
            patient_key=patient_key(patients["patient_id"]),
            zip3=zip3(patients["zip"], etl.restricted_zip3),
        ),
        "encounters": clean_encounters,
        "ed_visits": accepted["ed_visits"]
        .drop(columns=["ed_visit_id", "patient_id", "encounter_id"])
        .assign(
            patient_key=patient_key(accepted["ed_visits"]["patient_id"]),
            encounter_key=encounter_key(accepted["ed_visits"]["encounter_id"]),
        ),
    }
    for table, row_id in (
        ("diagnoses", None),
        ("procedures", "procedure_id"),
        ("claims", "claim_id"),
        ("medications", "order_id"),
        ("vitals", "observation_id"),
        ("labs", "lab_id"),
    ):
        frame = accepted[table]
        dropped = ["encounter_id"] + ([row_id] if row_id else [])
        clean[table] = frame.drop(columns=dropped).assign(
            encounter_key=encounter_key(frame["encounter_id"])
        )
    return {name: _keys_first(frame) for name, frame in clean.items()}


def _keys_first(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("patient_key", "encounter_key") if c in frame.columns]
    ordered = frame[keys + [c for c in frame.columns if c not in keys]]
    return ordered.reset_index(drop=True)
