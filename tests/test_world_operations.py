"""The world's operations: the second pass draws the first pass's stays, the roster adds up and
is budgeted as documented, short staffing causes what the oracle says, and crowding makes the ED
wait."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from configs import load_settings
from data_gen import generate, operations, stays, world
from data_gen.operations import SHIFT_HOURS

# Exaggerated so that a small world shows the effect: many sick calls, no one to cover them.
SHORT_STAFFED = [
    "staffing.event_odds_ratio_per_patient=1.6",
    "staffing.death_odds_ratio_per_patient=1.6",
    "staffing.sick_call_rate=0.35",
    "staffing.float_fill=0",
    "staffing.overtime_fill=0",
    "staffing.agency_fill=0",
]


def _two_passes(overrides: list[str]) -> tuple[world.WorldPlan, world.WorldPlan]:
    """The first pass's plan and the second's, as ``generate`` makes them."""
    config = load_settings("small", overrides).data_gen
    plan = world.plan_world(config)
    first_pass = generate._blocks(generate._block_census, config, plan.n_blocks)
    ops, _ = operations.plan_operations(plan, *generate._summed(first_pass, None))
    return plan, replace(plan, operations=ops)


def _exposed_before_event(plan: world.WorldPlan, s: stays.Stays) -> np.ndarray:
    """Per stay: did any chain step up to its first event (or its end) meet short staffing?"""
    last = np.where(s.event_step >= 0, s.event_step, s.n_steps - 1)
    ward = plan.groups["unit_index"][s.group]
    exposed = np.zeros(len(last), dtype=bool)
    for step in range(int(last.max(initial=0)) + 1):
        excess = operations.exposure(plan, s.facility, ward, s.icu_until_h, s.admit_h, step)
        exposed |= (step <= last) & (excess > 0)
    return exposed


@pytest.mark.parametrize("effect", ["none", "short_staffed"])
def test_the_second_pass_draws_the_first_pass_stays_and_changes_only_exposed_courses(effect):
    no_effect = [
        "staffing.event_odds_ratio_per_patient=1",
        "staffing.death_odds_ratio_per_patient=1",
    ]
    first, second = _two_passes(SHORT_STAFFED if effect == "short_staffed" else no_effect)
    changed_total = 0
    for block in range(first.n_blocks):
        before = stays.simulate_block(first, block).stays
        after = stays.simulate_block(second, block).stays
        np.testing.assert_array_equal(after.patient, before.patient)
        np.testing.assert_array_equal(after.admit_h, before.admit_h)
        np.testing.assert_array_equal(after.planned_h, before.planned_h)
        changed = (after.event_step != before.event_step) | (after.event_type != before.event_type)
        assert not (changed & ~_exposed_before_event(second, before)).any()
        changed_total += changed.sum()
    assert (changed_total > 0) == (effect == "short_staffed")


def test_deteriorations_and_deaths_on_short_staffed_shifts_match_the_oracle():
    _, plan = _two_passes(SHORT_STAFFED)
    risk, events, deaths = 0.0, 0, 0
    for block in range(plan.n_blocks):
        happened = generate._happened(stays.simulate_block(plan, block))
        risk = risk + operations.risk_sums(plan, happened)
        event = np.flatnonzero(happened.event_step >= 0)
        ward = plan.groups["unit_index"][happened.group]
        excess = operations.exposure(
            plan,
            happened.facility[event],
            ward[event],
            happened.icu_until_h[event],
            happened.admit_h[event],
            happened.event_step[event],
        )
        events += (excess > 0).sum()
        deaths += happened.died[event][excess > 0].sum()
    exposed = plan.operations.excess > 0
    base_events, expected_events, base_deaths, expected_deaths = (
        risk[i][exposed].sum() for i in range(len(operations.RISK_SUMS))
    )
    assert abs(events - expected_events) < 3 * np.sqrt(expected_events)
    assert abs(deaths - expected_deaths) < 3 * np.sqrt(expected_deaths)
    assert events > base_events + 3 * np.sqrt(base_events)  # the staffing caused them
    assert deaths > base_deaths + 3 * np.sqrt(base_deaths)


def test_the_roster_adds_up_and_costs_the_configured_hourly_rates(small_world, small_settings):
    roster = small_world["nurse_staffing"]
    came = (
        roster["scheduled_rn"] - roster["sick_calls"] - roster["float_out_rn"]
        + roster["float_in_rn"] + roster["overtime_rn"] + roster["agency_rn"]
    )  # fmt: skip
    assert (roster["worked_rn"] == came).all()
    rates = small_settings.data_gen.staffing.hourly_usd
    cost = SHIFT_HOURS * (
        rates["staff"] * (roster["scheduled_rn"] - roster["sick_calls"] - roster["float_out_rn"])
        + rates["float"] * roster["float_in_rn"]
        + rates["overtime"] * roster["overtime_rn"]
        + rates["agency"] * roster["agency_rn"]
    )
    np.testing.assert_allclose(roster["cost_usd"], cost)
    np.testing.assert_allclose(roster["rn_hours"], SHIFT_HOURS * roster["worked_rn"])
    # Floats move within a facility and a shift: what one unit lends another receives.
    moved = roster.groupby(["facility_id", "shift_start"])[["float_in_rn", "float_out_rn"]].sum()
    assert (moved["float_in_rn"] == moved["float_out_rn"]).all()
    starts = roster.drop_duplicates("shift_start").sort_values("shift_start")
    assert (starts["shift_start"].diff().dropna() == pd.Timedelta(hours=SHIFT_HOURS)).all()
    assert set(starts["shift_start"].dt.hour) == {7, 19}
    assert not roster.duplicated(["facility_id", "unit", "shift_start"]).any()


def test_a_roster_budgeted_from_the_average_census_runs_short_on_busy_shifts(small_world):
    oracle = small_world["oracle_staffing"]
    average = oracle.groupby(["facility_id", "unit"])["census"].transform("mean")
    unsafe = oracle["excess_patients_per_nurse"] > 0
    busy = oracle["census"] > average
    assert unsafe[busy].mean() > 2 * unsafe[~busy].mean()


def test_boarding_and_waits_grow_with_the_hospitals_occupancy(small_world):
    occupancy = _occupancy_by_shift(small_world)
    ed = small_world["ed_visits"]
    admitted = ed[ed["disposition"] == "admitted"]
    at_decision = _lookup(occupancy, admitted["facility_id"], admitted["admit_decision_at"])
    boarding_h = (
        admitted["departure_at"] - admitted["admit_decision_at"]
    ).dt.total_seconds() / 3600
    rho, p = stats.spearmanr(at_decision, boarding_h, nan_policy="omit")  # before the first shift
    assert rho > 0
    assert p < 1e-3
    seen = ed[ed["provider_at"].notna()]
    wait = (seen["provider_at"] - seen["triage_at"]).dt.total_seconds()
    crowded = _lookup(occupancy, seen["facility_id"], seen["arrival_at"]) > 0.95
    assert wait[crowded].median() > 1.2 * wait[~crowded].median()


def _ed_hours(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each ED visit with the oracle's expectations for its facility and hour of the week."""
    ed = tables["ed_visits"]
    keys = ed.assign(weekday=ed["arrival_at"].dt.dayofweek, hour=ed["arrival_at"].dt.hour)
    return keys.merge(tables["oracle_ed_load"], on=["facility_id", "weekday", "hour"])


def test_ed_arrivals_come_as_the_providers_were_planned_for(small_world, small_settings):
    config = small_settings.data_gen
    start, end = pd.Timestamp(config.start_date), pd.Timestamp(config.end_date)
    visits = _ed_hours(small_world)
    visits = visits[(visits["arrival_at"] >= start) & (visits["arrival_at"] < end)]
    truth = small_world["oracle_ed_load"]
    weeks = (end - start).days / 7
    seen = visits.groupby(["facility_id", "hour"]).size() / weeks
    expected = truth.groupby(["facility_id", "hour"])["expected_arrivals"].sum()
    by_facility = seen.groupby(level=0).sum() / expected.groupby(level=0).sum()
    # Each 400-3,000 visits, clustered by patient (a frequent visitor comes many times): the
    # relative standard error of a facility's count is sqrt(sum of squared visits per patient)
    # over its visits. A few percent fewer than expected, as no one walks in while in hospital
    # or after death.
    per_patient = visits.groupby(["facility_id", "patient_id"]).size()
    relative_se = (
        np.sqrt((per_patient**2).groupby(level=0).sum()) / per_patient.groupby(level=0).sum()
    )
    assert (by_facility <= 1 + 3 * relative_se).all(), (by_facility, relative_se)
    assert (by_facility >= 0.85 - 3 * relative_se).all(), (by_facility, relative_se)
    by_hour = seen.groupby(level=1).sum()
    assert stats.pearsonr(by_hour, expected.groupby(level=1).sum()).statistic > 0.9


def test_every_ed_block_has_the_providers_its_average_arrivals_need_and_at_least_one(
    small_world, small_settings
):
    ed = small_settings.data_gen.emergency_department
    providers = small_world["ed_providers"].set_index(["facility_id", "hour"])["providers"]
    assert (providers >= 1).all()
    assert len(providers) == 24 * len(small_world["facilities"])
    truth = small_world["oracle_ed_load"]
    hourly = truth.groupby(["facility_id", "hour"])["expected_arrivals"].mean()
    starts = ed.provider_shift_start_hours
    for number, start in enumerate(starts):
        end = starts[(number + 1) % len(starts)]
        hours = [h % 24 for h in range(start, end if end > start else end + 24)]
        average = hourly[hourly.index.get_level_values("hour").isin(hours)].groupby(level=0).mean()
        staffed = providers.xs(start, level="hour")
        assert (staffed * ed.patients_per_provider_hour >= 0.98 * average).all()
        busy = staffed > 1  # more than the minimum: no more than the average needs
        assert ((staffed[busy] - 1) * ed.patients_per_provider_hour < 1.02 * average[busy]).all()


def test_waits_for_a_provider_grow_with_the_eds_load(small_world):
    visits = _ed_hours(small_world)
    visits = visits[visits["provider_at"].notna()]
    wait = (visits["provider_at"] - visits["triage_at"]).dt.total_seconds()
    heavy, light = visits["load"] > 1.1, visits["load"] < 0.9
    assert min(heavy.sum(), light.sum()) > 500
    assert wait[heavy].median() > 1.15 * wait[light].median()
    rho, p = stats.spearmanr(visits["wait_multiplier"], wait)
    assert rho > 0
    assert p < 1e-3


def _occupancy_by_shift(tables: dict[str, pd.DataFrame]) -> pd.Series:
    census = tables["oracle_staffing"].groupby(["facility_id", "shift_start"])["census"].sum()
    beds = tables["facilities"].set_index("facility_id")["staffed_beds"]
    return census / beds.reindex(census.index.get_level_values("facility_id")).to_numpy()


def _lookup(by_shift: pd.Series, facility: pd.Series, at: pd.Series) -> np.ndarray:
    """The value of the shift under way at each time, at each facility."""
    start = (at - pd.Timedelta(hours=7)).dt.floor("12h") + pd.Timedelta(hours=7)
    keys = pd.MultiIndex.from_arrays([facility.to_numpy(), start.to_numpy()])
    return by_shift.reindex(keys).to_numpy()
