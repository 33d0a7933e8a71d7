"""De-identification: no direct identifier leaves the ETL; keys are keyed, stable pseudonyms."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from configs import load_settings
from features import deidentify

IDENTIFIER_COLUMNS = (
    "mrn",
    "ssn",
    "first_name",
    "last_name",
    "address",
    "phone",
    "zip",
    "birth_date",
    "patient_id",
)


def _identifier_values(patients: pd.DataFrame) -> set[str]:
    values = set()
    for column in ("mrn", "ssn", "address", "phone", "zip"):
        values |= set(patients[column].astype(str))
    # Full names: a surname alone ("West") can be an ordinary word elsewhere.
    values |= set(patients["first_name"] + " " + patients["last_name"])
    return values


def _string_values(frame: pd.DataFrame) -> set[str]:
    values = set()
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            values |= set(frame[column].dropna().astype(str))
    return values


@pytest.mark.parametrize("stage", ["clean", "features"])
def test_no_direct_identifier_reaches_clean_tables_or_features(
    small_world, small_world_dir, small_clean, small_features, stage
):
    identifiers = _identifier_values(small_world["patients"])
    birth_dates = set(pd.to_datetime(small_world["patients"]["birth_date"]).dt.date)
    tables = small_clean if stage == "clean" else small_features
    for name, frame in tables.items():
        assert not set(IDENTIFIER_COLUMNS) & set(frame.columns), name
        assert not identifiers & _string_values(frame), name
        for column in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[column]):
                assert not birth_dates & set(frame[column].dropna().dt.date), (name, column)


def test_raw_ids_do_not_survive_as_keys(small_world, small_clean):
    raw_ids = set(small_world["patients"]["patient_id"].astype(str)) | set(
        small_world["encounters"]["encounter_id"].astype(str)
    )
    keys = set(small_clean["encounters"]["patient_key"]) | set(
        small_clean["encounters"]["encounter_key"]
    )
    assert not raw_ids & keys
    assert small_clean["encounters"]["encounter_key"].is_unique


def test_pseudonyms_are_stable_per_key_and_differ_between_keys_and_domains():
    ids = pd.Series([101, 202, 101])
    first = deidentify.pseudonyms(ids, "patient", b"k" * 32)
    assert first.iloc[0] == first.iloc[2] != first.iloc[1]
    assert first.str.fullmatch(r"[0-9a-f]{16}").all()
    assert first.tolist() == deidentify.pseudonyms(ids, "patient", b"k" * 32).tolist()
    assert first.iloc[0] != deidentify.pseudonyms(ids, "patient", b"j" * 32).iloc[0]
    assert first.iloc[0] != deidentify.pseudonyms(ids, "encounter", b"k" * 32).iloc[0]


@pytest.mark.parametrize(
    ("birth", "admitted", "age"),
    [
        ("1950-06-15", "2024-06-14", 73),  # the day before the birthday
        ("1950-06-15", "2024-06-15", 74),  # on the birthday
        ("1934-01-01", "2024-01-01", 90),
        ("1930-01-01", "2024-01-01", 90),  # 94 is reported as 90
        ("1935-01-02", "2024-01-01", 88),
    ],
)
def test_age_at_admission_counts_completed_years_and_caps_at_90(birth, admitted, age):
    result = deidentify.age_years(
        pd.Series([pd.Timestamp(birth)]), pd.Series([pd.Timestamp(admitted)]), 90
    )
    assert result.iloc[0] == age


def test_sparse_zip3_areas_are_reported_as_000():
    result = deidentify.zip3(pd.Series(["02139", "03601", "89012"]), ["036", "890"])
    assert result.tolist() == ["021", "000", "000"]


def test_clean_tables_keep_three_zip_digits_and_ages_of_at_most_90(small_clean):
    assert small_clean["patients"]["zip3"].str.fullmatch(r"\d{3}").all()
    assert small_clean["encounters"]["age_years"].between(18, 90).all()


def test_key_file_is_created_private_and_reused_unless_the_environment_sets_one(
    tmp_path, monkeypatch
):
    etl = load_settings("small").features.etl
    monkeypatch.delenv(etl.key_env, raising=False)
    key = deidentify.load_key(etl, tmp_path)
    path = tmp_path / etl.key_file
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert deidentify.load_key(etl, tmp_path) == key
    monkeypatch.setenv(etl.key_env, "an-operator-supplied-secret-of-enough-length")
    assert deidentify.load_key(etl, tmp_path) == b"an-operator-supplied-secret-of-enough-length"


def test_a_too_short_key_file_is_refused(tmp_path, monkeypatch):
    etl = load_settings("small").features.etl
    monkeypatch.delenv(etl.key_env, raising=False)
    (tmp_path / etl.key_file).parent.mkdir(parents=True)
    (tmp_path / etl.key_file).write_text("short\n")
    with pytest.raises(deidentify.PseudonymKeyError, match="at least 32 characters"):
        deidentify.load_key(etl, tmp_path)
