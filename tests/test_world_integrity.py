"""The small world holds together: keys resolve, times are in order, values are physiological."""

from __future__ import annotations

import re

import pandas as pd
import pytest

ICD10CM = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
ICD10PCS = re.compile(r"^[0-9A-HJ-NP-Z]{7}$")


def test_every_foreign_key_resolves(small_world):
    w = small_world
    patients, encounters = set(w["patients"]["patient_id"]), set(w["encounters"]["encounter_id"])
    assert set(w["encounters"]["patient_id"]) <= patients
    assert set(w["encounters"]["facility_id"]) <= set(w["facilities"]["facility_id"])
    assert set(w["patients"]["home_facility_id"]) <= set(w["facilities"]["facility_id"])
    for table in ("diagnoses", "procedures", "vitals", "labs"):
        assert set(w[table]["encounter_id"]) <= encounters, table
    assert set(w["ed_visits"]["patient_id"]) <= patients
    assert set(w["ed_visits"]["encounter_id"].dropna()) <= encounters
    assert set(w["oracle_encounters"]["encounter_id"]) == encounters
    assert (
        w["oracle_vitals"]["observation_id"].to_numpy() == w["vitals"]["observation_id"].to_numpy()
    ).all()


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("patients", "patient_id"),
        ("patients", "mrn"),
        ("patients", "ssn"),
        ("encounters", "encounter_id"),
        ("vitals", "observation_id"),
        ("labs", "lab_id"),
        ("procedures", "procedure_id"),
        ("ed_visits", "ed_visit_id"),
    ],
)
def test_identifiers_are_unique(small_world, table, key):
    assert small_world[table][key].is_unique


def test_identifier_formats(small_world):
    patients = small_world["patients"]
    assert patients["ssn"].str.fullmatch(r"(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}").all()
    assert patients["mrn"].str.fullmatch(r"[1-9]\d{7}").all()
    assert patients["phone"].str.fullmatch(r"\([2-9]\d{2}\) [2-9]\d{2}-\d{4}").all()
    assert patients["zip"].str.fullmatch(r"\d{5}").all()


def test_discharge_follows_admission(small_world):
    e = small_world["encounters"]
    assert (e["discharged_at"] > e["admitted_at"]).all()


def test_a_patient_is_never_in_two_stays_at_once_nor_admitted_after_death(small_world):
    e = small_world["encounters"].sort_values(["patient_id", "admitted_at"])
    previous_discharge = e.groupby("patient_id")["discharged_at"].shift()
    assert (e["admitted_at"] >= previous_discharge).where(previous_discharge.notna(), True).all()
    died = e["discharge_disposition"].eq("expired").groupby(e["patient_id"]).cumsum()
    assert (died.groupby(e["patient_id"]).shift(fill_value=0) == 0).all()


def test_readmissions_are_later_stays_of_the_same_patient(small_world):
    e = small_world["encounters"].sort_values(["patient_id", "admitted_at"])
    following = e.groupby("patient_id")["admitted_at"].shift(-1)
    gap_days = (following - e["discharged_at"]).dt.total_seconds() / 86400
    readmitted = gap_days <= 30
    assert readmitted.mean() > 0.05  # readmissions exist ...
    assert (gap_days[readmitted] >= 0).all()  # ... and start after the discharge they follow


@pytest.mark.parametrize(
    ("table", "time"),
    [("vitals", "observed_at"), ("labs", "drawn_at"), ("procedures", "performed_at")],
)
def test_stay_records_fall_inside_their_stay(small_world, table, time):
    merged = small_world[table].merge(small_world["encounters"], on="encounter_id")
    assert (merged[time] >= merged["admitted_at"]).all()
    assert (merged[time] <= merged["discharged_at"]).all()


def test_deterioration_happens_during_the_stay(small_world):
    e = small_world["encounters"].dropna(subset=["deterioration_at"])
    assert len(e) > 0
    assert (e["deterioration_at"] >= e["admitted_at"]).all()
    assert (e["deterioration_at"] <= e["discharged_at"]).all()
    died = e["deterioration_event"] == "death"
    assert (e.loc[died, "discharge_disposition"] == "expired").all()
    assert (e.loc[died, "deterioration_at"] == e.loc[died, "discharged_at"]).all()


def test_ed_timestamps_are_in_order(small_world):
    ed = small_world["ed_visits"]
    assert (ed["triage_at"] >= ed["arrival_at"]).all()
    seen = ed["provider_at"].notna()
    assert (ed.loc[seen, "provider_at"] >= ed.loc[seen, "triage_at"]).all()
    assert (ed.loc[seen, "departure_at"] >= ed.loc[seen, "provider_at"]).all()
    assert (ed["provider_at"].isna() == (ed["disposition"] == "left_without_being_seen")).all()
    admitted = ed[ed["disposition"] == "admitted"].merge(
        small_world["encounters"], on="encounter_id"
    )
    assert (admitted["arrival_at"] < admitted["admitted_at"]).all()
    assert (admitted["departure_at"] == admitted["admitted_at"]).all()


def test_every_emergency_admission_has_its_ed_visit(small_world):
    e = small_world["encounters"]
    via_ed = set(e.loc[e["admission_source"] == "emergency_department", "encounter_id"])
    assert via_ed == set(small_world["ed_visits"]["encounter_id"].dropna())


def test_vitals_are_physiological(small_world, small_settings):
    v, spec = small_world["vitals"], small_settings.data_gen.vitals
    for column, sign in [
        ("heart_rate", spec.heart_rate),
        ("respiratory_rate", spec.respiratory_rate),
        ("spo2", spec.spo2),
        ("temperature_c", spec.temperature_c),
        ("systolic_bp", spec.systolic_bp),
    ]:
        assert v[column].between(sign.minimum, sign.maximum).all(), column
    assert set(v["consciousness"]) <= {"A", "C", "V", "P", "U"}
    assert v["heart_rate"].median() == pytest.approx(80, abs=10)
    assert v["spo2"].median() >= 94


def test_labs_are_physiological_and_coded(small_world):
    labs = small_world["labs"]
    ranges = {
        "haemoglobin": (4, 20),
        "sodium": (110, 165),
        "creatinine": (0.2, 15),
        "wbc": (0.5, 60),
        "lactate": (0.3, 20),
    }
    for test, (low, high) in ranges.items():
        assert labs.loc[labs["test"] == test, "value"].between(low, high).all(), test
    assert labs.groupby("test")["loinc"].nunique().eq(1).all()
    # Haemoglobin and sodium are drawn at discharge for every stay; lactate once, at admission.
    per_stay = labs.groupby(["encounter_id", "test"]).size().unstack(fill_value=0)
    assert (per_stay["haemoglobin"] >= 1).all()
    assert (per_stay["sodium"] >= 1).all()
    assert (per_stay["lactate"] == 1).all()


def test_codes_are_well_formed(small_world):
    assert small_world["diagnoses"]["code"].str.fullmatch(ICD10CM.pattern).all()
    assert small_world["encounters"]["primary_dx_code"].str.fullmatch(ICD10CM.pattern).all()
    assert small_world["procedures"]["code"].str.fullmatch(ICD10PCS.pattern).all()


def test_principal_diagnosis_is_position_one(small_world):
    d = small_world["diagnoses"]
    first = d[d["position"] == 1].merge(small_world["encounters"], on="encounter_id")
    assert (first["code"] == first["primary_dx_code"]).all()
    assert len(first) == len(small_world["encounters"])
    assert not d.duplicated(["encounter_id", "code"]).any()


def test_oracle_values_are_probabilities_and_expectations(small_world):
    o = small_world["oracle_encounters"]
    for column in (
        "p_readmit_30d",
        "p_readmit_60d",
        "p_readmit_90d",
        "p_in_hospital_death",
        "p_treatment_success",
    ):
        assert o[column].dropna().between(0, 1).all(), column
    alive = o["p_readmit_30d"].notna()
    assert alive.mean() > 0.95
    assert (o.loc[alive, "p_readmit_30d"] <= o.loc[alive, "p_readmit_60d"]).all()
    assert (o.loc[alive, "p_readmit_60d"] <= o.loc[alive, "p_readmit_90d"]).all()
    assert (o["expected_los_days"] > 0).all()
    assert (o["expected_cost_usd"] > 0).all()
    risk = small_world["oracle_vitals"]["p_deterioration_24h"].dropna()
    assert risk.between(0, 1).all()


def test_facilities_have_beds_sized_for_their_demand(small_world):
    f = small_world["facilities"]
    assert (f["staffed_beds"] >= 1).all()
    assert f.loc[f["type"] == "academic", "staffed_beds"].iloc[0] == f["staffed_beds"].max()


def test_manifest_records_rows_and_hashes(small_world_dir, small_world):
    import hashlib
    import json

    manifest = json.loads((small_world_dir / "raw" / "manifest.json").read_text())
    for name, entry in manifest["tables"].items():
        path = small_world_dir / "raw" / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert pd.read_parquet(path).shape[0] == entry["rows"], name
    assert manifest["config"]["n_patients"] == 4000
    assert "workers" not in manifest["config"]
