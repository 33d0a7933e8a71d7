"""ETL: every check quarantines what it should with a reason, and every row is accounted for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from configs import load_settings
from data_gen.corrupt import corrupt_tables, damage_values
from features import etl, validation

LATE, EARLY = pd.Timestamp("2030-01-01"), pd.Timestamp("2000-01-01")

FORMULARY = load_settings("small").data_gen.medications.formulary


@pytest.fixture(scope="module")
def tiny_raw(small_world) -> dict[str, pd.DataFrame]:
    """The first 150 patients of the small world with all their records: fast to validate."""
    patients = small_world["patients"].head(150)
    keep = set(patients["patient_id"])
    encounters = small_world["encounters"][small_world["encounters"]["patient_id"].isin(keep)]
    stays = set(encounters["encounter_id"])
    tables = {
        "facilities": small_world["facilities"],
        "nurse_staffing": small_world["nurse_staffing"].head(500),
        "ed_providers": small_world["ed_providers"],
        "patients": patients,
        "encounters": encounters,
    }
    for name in ("diagnoses", "procedures", "claims", "medications", "vitals", "labs"):
        tables[name] = small_world[name][small_world[name]["encounter_id"].isin(stays)]
    tables["ed_visits"] = small_world["ed_visits"][
        small_world["ed_visits"]["patient_id"].isin(keep)
    ]
    return {name: frame.reset_index(drop=True) for name, frame in tables.items()}


@pytest.fixture(scope="module")
def etl_config():
    return load_settings("small").features.etl


def test_a_clean_world_passes_whole(small_etl):
    summary = small_etl.summary.set_index("table")
    assert (summary["quarantined"] == 0).all()
    assert (summary["accepted"] == summary["rows_in"]).all()


def _quarantine_reasons(raw, etl_config, table, edit) -> list[str]:
    damaged = dict(raw)
    damaged[table] = edit(raw[table].copy())
    result = etl.validate_world(damaged, etl_config, FORMULARY)
    return result.quarantine[table]["failed_checks"].tolist()


def _set(column, value, row=0):
    def edit(frame):
        if frame[column].dtype.kind in "iub" and not isinstance(value, (int, bool, np.integer)):
            frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame

    return edit


@pytest.mark.parametrize(
    ("table", "edit", "reason"),
    [
        ("vitals", _set("heart_rate", 400), "heart_rate: outside 20.0 to 250.0"),
        ("vitals", _set("spo2", 30), "spo2: outside 50.0 to 100.0"),
        ("vitals", _set("temperature_c", 51.0), "temperature_c: outside 30.0 to 44.0"),
        ("vitals", _set("spo2", None), "spo2: missing"),
        ("vitals", _set("consciousness", "Z"), "consciousness: not an allowed value"),
        ("vitals", _set("heart_rate", "n/a"), "heart_rate: not a valid float64"),
        ("vitals", _set("observed_at", LATE), "observed_at: outside its stay"),
        ("vitals", _set("encounter_id", 99_999_999_999), "encounter_id: no such stay"),
        ("encounters", _set("total_cost_usd", -5.0), "total_cost_usd: outside 0.0 to 5000000.0"),
        ("encounters", _set("primary_dx_code", "I50-9"), "primary_dx_code: malformed"),
        ("encounters", _set("patient_id", 99_999_999_999), "patient_id: no such patient"),
        ("encounters", _set("admitted_at", LATE), "*: discharged_at is not after admitted_at"),
        ("encounters", _set("unit", "cafeteria"), "unit: not an allowed value"),
        ("diagnoses", _set("code", "XYZ"), "code: malformed"),
        ("procedures", _set("code", "0SRC0J"), "code: malformed"),
        ("claims", _set("payer", "blue_cross"), "payer: not an allowed value"),
        ("claims", _set("charges_usd", -1.0), "charges_usd: below 0"),
        ("claims", _set("paid_usd", 10**9), "*: paid_usd exceeds allowed_usd"),
        ("claims", _set("billed_at", EARLY), "billed_at: before its stay ended"),
        ("claims", _set("encounter_id", 99_999_999_999), "encounter_id: no such stay"),
        ("claims", _set("drg_severity", "major"), "drg_severity: not an allowed value"),
        ("medications", _set("dose", -5.0), "dose: not above 0"),
        ("medications", _set("route", "IV push"), "route: not an allowed value"),
        ("medications", _set("rxnorm_code", "RX11289"), "rxnorm_code: malformed"),
        ("medications", _set("ordered_at", EARLY), "ordered_at: outside its stay"),
        ("medications", _set("stopped_at", EARLY), "*: first dose before the order, or stopped"),
        ("medications", _set("encounter_id", 99_999_999_999), "encounter_id: no such stay"),
        ("medications", _set("rxnorm_code", "99999999"), "rxnorm_code: not in the formulary"),
        (
            "medications",
            _set("dose", 50_000.0),
            "*: dose above the drug's largest in the formulary",
        ),
        (
            "medications",
            _set("drug_name", "snake oil"),
            "*: drug name or dose unit is not the formulary's",
        ),
        ("labs", _set("value", 9999.0), "*: lab value outside its test's limits"),
        ("labs", _set("test", "potassium"), "test: not an allowed value"),
        ("ed_visits", _set("triage_at", EARLY), "*: ED times are out of order"),
        ("ed_visits", _set("esi_level", 7), "esi_level: above 5"),
        ("patients", _set("sex", "X"), "sex: not an allowed value"),
        ("patients", _set("birth_date", None), "birth_date: missing"),
    ],
)
def test_each_check_quarantines_the_bad_row_with_its_reason(
    tiny_raw, etl_config, table, edit, reason
):
    reasons = _quarantine_reasons(tiny_raw, etl_config, table, edit)
    assert any(reason in r for r in reasons), reasons


@pytest.mark.parametrize(
    ("column", "value"), [("ssn", "666-12-3456"), ("zip", "9021"), ("phone", None)]
)
def test_a_bad_value_in_a_field_the_clean_tables_drop_is_nulled_and_the_patient_kept(
    tiny_raw, etl_config, column, value
):
    patients = _set(column, value, row=0)(tiny_raw["patients"].copy())
    result = etl.validate_world(dict(tiny_raw, patients=patients), etl_config, FORMULARY)
    assert result.quarantine["patients"].empty
    assert result.quarantine["encounters"].empty
    assert pd.isna(result.accepted["patients"][column].iloc[0])
    nulled = result.reasons.query("action == 'nulled'")
    expected = 1 if value is not None else 0  # a missing value there is no fault
    assert nulled["rows"].sum() == expected


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("patients", "patient_id"),
        ("vitals", "observation_id"),
        ("labs", "lab_id"),
        ("claims", "encounter_id"),
    ],
)
def test_a_repeated_key_keeps_the_first_row_and_quarantines_the_copy(
    tiny_raw, etl_config, table, key
):
    damaged = dict(tiny_raw)
    damaged[table] = pd.concat([tiny_raw[table], tiny_raw[table].iloc[[3]]], ignore_index=True)
    result = etl.validate_world(damaged, etl_config, FORMULARY)
    quarantined = result.quarantine[table]
    assert quarantined["source_row"].tolist() == [len(tiny_raw[table])]
    assert quarantined["failed_checks"].iloc[0] == f"*: {key} is repeated"


def test_children_of_a_quarantined_stay_stay_clean_and_only_those_of_an_absent_one_are_orphans(
    tiny_raw, etl_config
):
    damaged = dict(tiny_raw)
    encounters = tiny_raw["encounters"].copy()
    encounters.loc[0, "total_cost_usd"] = -1.0
    damaged["encounters"] = encounters.drop(index=1)
    result = etl.validate_world(damaged, etl_config, FORMULARY)
    held, absent = encounters.loc[[0, 1], "encounter_id"]
    assert result.quarantine["encounters"]["encounter_id"].tolist() == [held]
    vitals = tiny_raw["vitals"]["encounter_id"]
    assert (result.accepted["vitals"]["encounter_id"] == held).sum() == (vitals == held).sum() > 0
    orphans = result.quarantine["vitals"]
    assert len(orphans) == (vitals == absent).sum() > 0
    assert set(orphans["failed_checks"]) == {"encounter_id: no such stay"}


def test_the_stays_of_a_quarantined_patient_are_held_back_with_the_reason(tiny_raw, etl_config):
    patients = tiny_raw["patients"].copy()
    patients.loc[0, "sex"] = "unknown"
    result = etl.validate_world(dict(tiny_raw, patients=patients), etl_config, FORMULARY)
    stays = tiny_raw["encounters"]["patient_id"] == patients.loc[0, "patient_id"]
    held = result.quarantine["encounters"]
    assert len(held) == stays.sum() > 0
    assert set(held["failed_checks"]) == {"patient_id: its patient is in quarantine"}


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rate=st.floats(0.0, 0.3), seed=st.integers(0, 2**32 - 1))
def test_every_row_is_accounted_for_whatever_faults_are_injected(tiny_raw, etl_config, rate, seed):
    damaged, faulted, _ = corrupt_tables(tiny_raw, rate, seed)
    result = etl.validate_world(damaged, etl_config, FORMULARY)
    # A malformed SSN is nulled, not quarantined (de-identification drops it anyway).
    original = tiny_raw["patients"]["ssn"]
    malformed_ssn = np.flatnonzero(damaged["patients"]["ssn"].iloc[: len(original)] != original)
    faulted["patients"] = np.setdiff1d(faulted["patients"], malformed_ssn)
    # A record's time cannot be checked against a stay whose own times were damaged.
    periods = etl.stay_periods(damaged["encounters"])
    unknowable = periods.index[periods["start"].isna() | periods["end"].isna()]
    for table, _ in etl.DURING_STAY:
        stay = pd.to_numeric(damaged[table]["encounter_id"], errors="coerce")
        faulted[table] = np.setdiff1d(faulted[table], np.flatnonzero(stay.isin(unknowable)))
    for table in validation.TABLE_ORDER:
        summary = result.summary.set_index("table").loc[table]
        assert summary["rows_in"] == len(damaged[table])
        assert summary["rows_in"] == summary["accepted"] + summary["quarantined"]
        quarantined = set(result.quarantine[table]["source_row"])
        assert set(faulted.get(table, [])) <= quarantined  # every injected fault is caught
        assert len(result.accepted[table]) + len(quarantined) == len(damaged[table])


def test_a_missing_column_stops_the_etl_naming_table_and_column(tiny_raw, etl_config):
    damaged = dict(tiny_raw, vitals=tiny_raw["vitals"].drop(columns=["spo2"]))
    with pytest.raises(
        validation.TableStructureError, match="vitals: the column 'spo2' is missing"
    ):
        etl.validate_world(damaged, etl_config, FORMULARY)


def test_too_much_quarantine_fails_and_writes_nothing_clean(small_world, tmp_path, key_root):
    raw = tmp_path / "raw"
    raw.mkdir()
    damaged, _, _ = corrupt_tables(
        {k: v for k, v in small_world.items() if not k.startswith("oracle")}, 0.2, 3
    )
    for name, frame in damaged.items():
        frame.to_parquet(raw / f"{name}.parquet", index=False)
    with pytest.raises(etl.QuarantineLimitError, match="max_quarantine_share"):
        etl.run_etl(load_settings("small"), tmp_path, key_root)
    assert not (tmp_path / "clean").exists()
    assert (tmp_path / "quarantine" / "summary.json").exists()
    assert len(pd.read_parquet(tmp_path / "quarantine" / "vitals.parquet")) > 0


def test_check_names_read_as_words():
    assert validation.describe_check("in_range(20.0, 250.0)") == "outside 20.0 to 250.0"
    assert validation.describe_check("coerce_dtype('int64')") == "not a valid int64"
    assert validation.describe_check("not_nullable") == "missing"


def test_generic_damage_quarantines_little_beyond_the_rows_it_touches(small_world, etl_config):
    raw = {t: small_world[t] for t in validation.TABLE_ORDER}
    damaged, touched = damage_values(raw, value_rate=0.015, duplicate_rate=0.003, seed=11)
    result = etl.validate_world(damaged, etl_config, FORMULARY)
    summary = result.summary.set_index("table")
    assert (summary["rows_in"] == summary["accepted"] + summary["quarantined"]).all()
    for table in ("vitals", "labs", "diagnoses", "procedures"):
        touched_share = len(touched[table]) / len(damaged[table])
        assert summary.loc[table, "quarantined_share"] <= 3 * touched_share, table
    nulled = result.reasons[result.reasons["action"] == "nulled"]
    assert set(nulled["column"]) >= {"ssn", "phone", "zip"}
    assert (
        summary.loc["patients", "values_nulled"]
        == nulled.query("table == 'patients'")["rows"].sum()
    )
