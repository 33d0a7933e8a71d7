"""The staffing plan judged in the world, against what happened and against the world's truth.

Over the test period (the records' last ``forecast.test_weeks`` weeks), every Monday each
facility plans its next ``horizon_days`` from the records before it, and works the first week of
that plan. Each shift is then set against the census that happened: a shift is unsafe when its
patients per nurse present exceed the unit's ratio target. The world's own roster (with its
same-day floats, overtime and agency) is judged the same way, with its recorded cost. Scheduled
staff call in sick at the roster's rate, so the plan's nurses present, cost and consequences are
drawn ``replicates`` times, which gives their intervals.

From the oracle (``oracle/staffing.parquet``) come the adverse events each staffing causes: per
shift, the expected first deteriorations among the patients at risk at the safe ratio
(``base_events``), and at ``x`` patients per nurse above it about ``base_events *
event_odds_ratio^x`` (deaths likewise with both odds ratios), the odds ratios being the world's
(its manifest's configuration). The roster's events are the oracle's ``events`` and ``deaths``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from configs.data_gen import NurseStaffing
from configs.operations import OperationsConfig
from configs.vocabulary import UNITS
from data_gen import operations
from features.census import SHIFT_HOURS
from operations import staffing

KEYS = ["facility_id", "unit", "shift_start"]
EVENT_SUMS = ["base_events", "events", "base_deaths", "deaths"]


def world_staffing(data_dir: Path) -> NurseStaffing:
    """The world's nurse staffing rules (its same-day patching, its odds ratios), from the
    configuration its manifest recorded."""
    manifest = json.loads((data_dir / "raw" / "manifest.json").read_text())
    return NurseStaffing(**manifest["config"]["staffing"])


def test_weeks(roster: pd.DataFrame, weeks: int) -> pd.DatetimeIndex:
    """The Mondays that start the test period's weeks: the last ``weeks`` whole weeks."""
    last = roster["shift_start"].max().normalize()
    final_monday = last - pd.Timedelta(days=last.dayofweek + 7)
    return pd.date_range(end=final_monday, periods=weeks, freq="7D")


def weekly_plans(
    by_shift: pd.DataFrame, roster: pd.DataFrame, config: OperationsConfig
) -> tuple[pd.DataFrame, list[float]]:
    """Every facility's plan for each test week, its first week kept; and the solver's time of
    each plan."""
    kept, seconds = [], []
    for monday in test_weeks(roster, config.forecast.test_weeks):
        for facility in sorted(roster["facility_id"].unique()):
            plan = staffing.plan_facility(by_shift, roster, facility, monday, config)
            week = plan.nurses["shift_start"] < monday + pd.Timedelta(days=7)
            kept.append(plan.nurses[week])
            seconds.append(plan.solve_seconds)
    return pd.concat(kept, ignore_index=True), seconds


def judge(
    plans: pd.DataFrame,
    by_shift: pd.DataFrame,
    roster: pd.DataFrame,
    oracle: pd.DataFrame,
    world: NurseStaffing,
    config: OperationsConfig,
) -> pd.DataFrame:
    """Per facility and for all: shifts, unsafe shifts, cost, and the deteriorations and deaths
    beyond those at the safe ratio, of the world's roster and of the plans worked in the world
    (mean and 95% interval over ``replicates`` days' draws), with the events and deaths the plans
    avoid."""
    shifts = plans.merge(by_shift[[*KEYS, "census"]], on=KEYS, validate="one_to_one")
    shifts = shifts.merge(
        roster[[*KEYS, "worked_rn", "cost_usd"]].rename(columns={"cost_usd": "roster_cost_usd"}),
        on=KEYS,
    )
    truth = oracle[[*KEYS, "census", *EVENT_SUMS]].rename(columns={"census": "census_true"})
    shifts = shifts.merge(truth, on=KEYS)
    grid = _Grid(shifts)
    true_ratio = np.array([world.safe_patients_per_nurse[u] for u in UNITS])[None, :, None]
    needed = np.ceil(np.round(grid.of("census_true") / true_ratio, 9)).astype(np.int64)
    scheduled = (grid.of("staff_rn") + grid.of("float_in_rn")).astype(np.int64)
    booked = (grid.of("overtime_rn") + grid.of("agency_rn")).astype(np.int64)
    rates = world.hourly_usd
    booked_cost = (
        SHIFT_HOURS
        * (
            rates["overtime"] * shifts["overtime_rn"] + rates["agency"] * shifts["agency_rn"]
        ).to_numpy()
    )
    rng = np.random.default_rng(config.staffing.seed)
    worked, cost = [], []
    for _ in range(config.staffing.replicates):
        day = operations.work_shifts(world, rng, scheduled, needed, booked)
        worked.append(grid.back(day["worked_rn"]))
        cost.append(grid.back(day["cost_usd"]) + booked_cost)
    worked, cost = np.array(worked), np.array(cost)
    ratio = shifts["unit"].map(config.staffing.safe_patients_per_nurse).to_numpy()
    seen = shifts["census"].to_numpy()
    unsafe = seen / np.maximum(worked, 1) > ratio + 1e-9
    roster_unsafe = seen / np.maximum(shifts["worked_rn"].to_numpy(), 1) > ratio + 1e-9
    world_ratio = shifts["unit"].map(world.safe_patients_per_nurse).to_numpy()
    excess = np.maximum(shifts["census_true"].to_numpy() / np.maximum(worked, 1) - world_ratio, 0)
    event_odds = world.event_odds_ratio_per_patient
    death_odds = event_odds * world.death_odds_ratio_per_patient
    events = shifts["base_events"].to_numpy() * event_odds**excess
    deaths = shifts["base_deaths"].to_numpy() * death_odds**excess
    groups = {"all": np.ones(len(shifts), dtype=bool)} | {
        str(f): (shifts["facility_id"] == f).to_numpy()
        for f in sorted(shifts["facility_id"].unique())
    }
    rows = []
    for name, mine in groups.items():
        base_events = shifts.loc[mine, "base_events"].sum()
        base_deaths = shifts.loc[mine, "base_deaths"].sum()
        roster_events = shifts.loc[mine, "events"].sum() - base_events
        roster_deaths = shifts.loc[mine, "deaths"].sum() - base_deaths
        plan_events = events[:, mine].sum(axis=1) - base_events
        plan_deaths = deaths[:, mine].sum(axis=1) - base_deaths
        rows.append(
            {
                "facility": name,
                "shifts": int(mine.sum()),
                "roster_unsafe_shifts": int(roster_unsafe[mine].sum()),
                **_summary("plan_unsafe_shifts", unsafe[:, mine].sum(axis=1)),
                "roster_cost_usd": float(shifts.loc[mine, "roster_cost_usd"].sum()),
                **_summary("plan_cost_usd", cost[:, mine].sum(axis=1)),
                "roster_excess_events": float(roster_events),
                **_summary("plan_excess_events", plan_events),
                **_summary("events_avoided", roster_events - plan_events),
                "roster_excess_deaths": float(roster_deaths),
                **_summary("deaths_avoided", roster_deaths - plan_deaths),
            }
        )
    return pd.DataFrame(rows)


class _Grid:
    """Shifts as [facility, unit, shift] arrays (zero where a facility runs no such unit)."""

    def __init__(self, shifts: pd.DataFrame) -> None:
        starts = np.sort(shifts["shift_start"].unique())
        self.shape = (int(shifts["facility_id"].max()), len(UNITS), len(starts))
        self.index = (
            shifts["facility_id"].to_numpy() - 1,
            shifts["unit"].map(UNITS.index).to_numpy(),
            np.searchsorted(starts, shifts["shift_start"].to_numpy()),
        )
        self.shifts = shifts

    def of(self, column: str) -> np.ndarray:
        array = np.zeros(self.shape)
        array[self.index] = self.shifts[column].to_numpy()
        return array

    def back(self, array: np.ndarray) -> np.ndarray:
        return array[self.index]


def _summary(name: str, values: np.ndarray) -> dict[str, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return {name: float(np.mean(values)), f"{name}_low": float(low), f"{name}_high": float(high)}


def with_interval(row: pd.Series, name: str, number: str) -> str:
    """A figure of ``judge``'s table and its interval, as text: ``number`` formats each."""
    value, low, high = (number.format(row[f"{name}{end}"]) for end in ("", "_low", "_high"))
    return f"{value} ({low} to {high})"
