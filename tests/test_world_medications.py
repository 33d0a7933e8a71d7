"""The world's medicines: orders fall inside their stays and follow the formulary, home medicines
are held where the diagnosis calls for it, adverse drug events happen, are caused, coded and
turn into deteriorations as the oracle says, and the antibiotics' timing is confounded by severity
and changes the risk of deterioration as the oracle says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from configs.vocabulary import ADVERSE_DRUG_EVENTS


@pytest.fixture(scope="module")
def medium(medium_world_dir) -> dict[str, pd.DataFrame]:
    raw = ("encounters", "medications", "diagnoses", "labs")
    tables = {t: pd.read_parquet(medium_world_dir / "raw" / f"{t}.parquet") for t in raw}
    for stem in ("encounters", "adverse_drug_events"):
        tables[f"oracle_{stem}"] = pd.read_parquet(medium_world_dir / "oracle" / f"{stem}.parquet")
    return tables


def test_orders_fall_within_their_stays_and_follow_the_formulary(small_world, small_settings):
    orders = small_world["medications"].merge(
        small_world["encounters"][["encounter_id", "admitted_at", "discharged_at"]],
        on="encounter_id",
        how="left",
        validate="many_to_one",
    )
    assert orders["admitted_at"].notna().all()
    assert orders["order_id"].is_unique
    assert (orders["ordered_at"] >= orders["admitted_at"]).all()
    given = orders["first_dose_at"].notna()
    assert (orders.loc[given, "first_dose_at"] >= orders.loc[given, "ordered_at"]).all()
    assert (orders["stopped_at"] <= orders["discharged_at"]).all()
    assert 0.9 < given.mean() < 1.0  # a few orders are never given
    formulary = small_settings.data_gen.medications.formulary
    for row in orders.drop_duplicates(["drug_name", "dose"]).itertuples():
        drug = formulary[row.drug_name.replace(" ", "_")]
        assert (row.rxnorm_code, row.route, row.dose_unit, row.frequency) == (
            drug.rxcui, drug.route, drug.unit, drug.frequency,
        )  # fmt: skip
        assert row.dose in drug.doses
    assert not orders.duplicated(["encounter_id", "drug_name"]).any()  # a drug is ordered once


def test_home_anticoagulants_are_held_in_a_gastrointestinal_bleed(medium, medium_settings):
    config = medium_settings.data_gen
    gi_bleed = next(g for g in config.diagnoses if g.name == "gi_bleed").codes
    anticoagulants = {
        name.replace("_", " ")
        for name, drug in config.medications.formulary.items()
        if "anticoagulant" in drug.classes
    }
    home = medium["medications"][medium["medications"]["source"] == "home"]
    on_one = set(home.loc[home["drug_name"].isin(anticoagulants), "encounter_id"])
    stays = medium["encounters"].assign(
        bleeding=lambda e: e["primary_dx_code"].isin(gi_bleed),
        anticoagulated=lambda e: e["encounter_id"].isin(on_one),
    )
    rate = stays.groupby("bleeding")["anticoagulated"].mean()
    assert rate[False] > 0.05
    assert rate[True] < 0.25 * rate[False]  # held with probability 0.95


def _within_sampling_error(observed: float, p: pd.Series, slack: float) -> bool:
    expected, sd = p.sum(), np.sqrt((p * (1 - p)).sum())
    return abs(observed - expected) <= 3 * sd + slack * expected


def test_adverse_drug_events_happen_as_often_as_the_oracle_says(medium):
    oracle, events = medium["oracle_encounters"], medium["oracle_adverse_drug_events"]
    assert set(events["event"]) <= set(ADVERSE_DRUG_EVENTS)
    assert len(events) > 200
    # The oracle's chance covers the stay as planned; a death before the onset prevents a few.
    assert _within_sampling_error(len(events), oracle["p_adverse_drug_event"], slack=0.05)
    attributable = (
        oracle["p_adverse_drug_event"] - oracle["p_adverse_drug_event_without_interactions"]
    )
    assert (attributable >= -1e-12).all()
    caused = (events["cause"] == "interaction").sum()
    assert _within_sampling_error(caused, attributable, slack=0.15)
    assert events.loc[events["cause"] == "interaction", "interaction"].notna().all()


def test_an_event_is_coded_on_its_stay_when_the_oracle_says_it_was(medium, medium_settings):
    harm = medium_settings.data_gen.medications.adverse_events
    events = medium["oracle_adverse_drug_events"]
    events = events[events["event"] != "acute_kidney_injury"]  # its code is also the labs'
    codes = events["event"].map({name: e.code for name, e in harm.items()})
    diagnoses = medium["diagnoses"]
    acquired = set(
        zip(
            diagnoses.loc[~diagnoses["present_on_admission"], "encounter_id"],
            diagnoses.loc[~diagnoses["present_on_admission"], "code"],
            strict=True,
        )
    )
    found = np.array([pair in acquired for pair in zip(events["encounter_id"], codes, strict=True)])
    assert (found == events["coded"].to_numpy()).all()
    assert 0.7 < events["coded"].mean() < 0.95


def test_an_event_that_is_a_deterioration_is_the_stays_recorded_event(medium):
    events = medium["oracle_adverse_drug_events"].dropna(subset=["deterioration_event"])
    assert len(events) > 10
    stays = events.merge(medium["encounters"], on="encounter_id", validate="one_to_one")
    assert (stays["deterioration_event_x"] == stays["deterioration_event_y"]).all()
    assert (stays["deterioration_at"] - stays["onset_at"]).abs().max() <= pd.Timedelta(seconds=1)
    deaths = stays["deterioration_event_x"] == "death"
    assert (stays.loc[deaths, "discharge_disposition"] == "expired").all()


@pytest.fixture(scope="module")
def timed(medium, medium_settings) -> pd.DataFrame:
    """The stays whose antibiotics the world times, with their admission lactate, the hours to
    their first given antibiotic dose (NaN: none) and the oracle's columns."""
    config = medium_settings.data_gen
    groups = config.medications.antibiotic_timing.groups
    codes = {c: g.name for g in config.diagnoses if g.name in groups for c in g.codes}
    antibiotics = {d.replace("_", " ") for d in config.medications.drugs_of("antibiotic")}
    doses = medium["medications"]
    first = doses[doses["drug_name"].isin(antibiotics)].groupby("encounter_id")["first_dose_at"]
    labs = medium["labs"]
    lactate = labs[labs["test"] == "lactate"].sort_values("drawn_at")
    stays = medium["encounters"].merge(medium["oracle_encounters"], on="encounter_id")
    stays = stays[stays["primary_dx_code"].isin(codes)]
    return stays.assign(
        group=stays["primary_dx_code"].map(codes),
        lactate=stays["encounter_id"].map(lactate.groupby("encounter_id")["value"].first()),
        hours=(stays["encounter_id"].map(first.min()) - stays["admitted_at"]).dt.total_seconds()
        / 3600,
    )


def test_the_oracle_marks_late_exactly_the_stays_without_an_antibiotic_in_the_bundles_hours(
    timed, medium
):
    bundle = 3.0
    on_time = timed["hours"] < bundle
    assert (timed["antibiotics_delayed"] == ~on_time).all()
    assert timed["p_deterioration_antibiotics_late"].notna().all()
    others = medium["oracle_encounters"][
        ~medium["oracle_encounters"]["encounter_id"].isin(timed["encounter_id"])
    ]
    assert not others["antibiotics_delayed"].any()
    assert others["p_deterioration_antibiotics_early"].isna().all()
    assert 0.55 < on_time.mean() < 0.85


def test_patients_who_look_sicker_get_their_antibiotics_sooner(timed):
    sepsis = timed[(timed["group"] == "sepsis") & timed["hours"].notna()]
    high = sepsis["lactate"] > 2.0
    on_time = sepsis["hours"] < 3.0
    assert on_time[high].mean() > on_time[~high].mean() + 0.1
    # ... and they deteriorate more whatever the timing: the confounding the study must undo.
    assert (sepsis.loc[high, "p_deterioration_antibiotics_early"].mean()
            > sepsis.loc[~high, "p_deterioration_antibiotics_early"].mean() + 0.05)  # fmt: skip


def test_late_antibiotics_raise_every_timed_stays_true_risk(timed):
    late, early = (
        timed["p_deterioration_antibiotics_late"],
        timed["p_deterioration_antibiotics_early"],
    )
    assert (late >= early - 1e-12).all()
    assert 0.01 < (late - early).mean() < 0.1


def test_deteriorations_follow_the_oracles_risk_under_the_timing_received(timed):
    received = np.where(
        timed["antibiotics_delayed"],
        timed["p_deterioration_antibiotics_late"],
        timed["p_deterioration_antibiotics_early"],
    )
    for delayed in (False, True):
        arm = (timed["antibiotics_delayed"] == delayed).to_numpy()
        observed = timed.loc[arm, "deterioration_event"].notna().sum()
        expected, variance = received[arm].sum(), (received[arm] * (1 - received[arm])).sum()
        # The oracle leaves out the staffing's small extra risk: 4 standard errors.
        assert abs(observed - expected) < 4 * np.sqrt(variance), (delayed, observed, expected)
