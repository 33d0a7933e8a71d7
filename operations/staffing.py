"""The nurse staffing plan: nurses per unit and shift for the next days, at the least cost, so that
the forecast census meets the ratio targets; a mixed-integer programme solved by HiGHS.

For one facility and the shifts of the plan, the decisions are, per unit and shift, the unit's own
staff nurses ``x``, its overtime shifts ``o`` and its agency nurses ``a``, and per pair of units the
staff floated from one to the other ``y`` (none into the units in ``no_floats_into``):

    minimise   12 h * sum(staff * x + float * y + overtime * o + agency * a)
    such that  x_u + y_in_u + o_u + a_u >= census_q_u / ratio_u   per unit and shift
               x_u + y_out_u <= staff_u                            per unit and shift
               o_u <= overtime_share * usual_u,  all integer and non-negative

where ``census_q`` is the ``census_quantile`` of the shift's forecast census, ``usual_u`` the
unit's usual schedule for such a shift (the median over the roster's last ``history_weeks``) and
``staff_u = ceil((1 + extra_staff_share) usual_u)`` the staff nurses it can call on. Agency is
unlimited, so every plan is feasible; its price makes it the last resort. Sick calls are left to
the day, as they are for the hospital's own roster: the plan books nurses, the day patches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.stats import norm

from configs.operations import OperationsConfig, Staffing
from configs.vocabulary import SHIFTS
from features import census
from features.census import SHIFT_HOURS
from operations import forecast


class PlanError(ValueError):
    """A plan that cannot be made as asked (an unknown facility or unit, a bad target)."""


@dataclass(frozen=True)
class Plan:
    facility_id: int
    nurses: pd.DataFrame  # per unit and shift: the decisions, the nurses needed and the cost
    cost_usd: float
    solve_seconds: float


def usual_schedule(roster: pd.DataFrame, before: pd.Timestamp, weeks: int) -> pd.DataFrame:
    """Per facility, unit and shift kind: the median nurses scheduled over the ``weeks`` before
    ``before``."""
    window = roster[
        (roster["shift_start"] < before)
        & (roster["shift_start"] >= before - pd.Timedelta(weeks=weeks))
    ]
    if window.empty:
        raise PlanError(f"the roster has no shifts in the {weeks} weeks before {before:%Y-%m-%d}")
    grouped = window.groupby(["facility_id", "unit", "shift"])
    return grouped["scheduled_rn"].median().rename("usual_rn").reset_index()


def shift_targets(
    daily: pd.DataFrame, shift_shares: pd.DataFrame, quantile: float, day_start_hour: int
) -> pd.DataFrame:
    """The census to plan each shift for: the ``quantile`` of the day's forecast (``daily``: unit,
    date, mean, sd) times the unit's ratio of that shift's census to its day's (``shift_shares``:
    unit, shift, share); with the shift's forecast mean and standard deviation."""
    z = norm.ppf(quantile)
    rows = []
    for shift, offset in zip(SHIFTS, (0, SHIFT_HOURS), strict=True):
        share = daily["unit"].map(
            shift_shares[shift_shares["shift"] == shift].set_index("unit")["share"]
        )
        rows.append(
            pd.DataFrame(
                {
                    "unit": daily["unit"].to_numpy(),
                    "shift_start": daily["date"] + pd.Timedelta(hours=day_start_hour + offset),
                    "shift": shift,
                    "census": np.maximum((daily["mean"] + z * daily["sd"]) * share, 0.0).to_numpy(),
                    "census_mean": (daily["mean"] * share).to_numpy(),
                    "census_sd": (daily["sd"] * share).to_numpy(),
                }
            )
        )
    return pd.concat(rows).sort_values(["unit", "shift_start"], ignore_index=True)


def unsafe_chance(mean: np.ndarray, sd: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """P(C > capacity) for a census C ~ Normal(mean, sd): the chance that a shift whose nurses
    can take ``capacity`` patients at the ratio target runs beyond it."""
    mean, sd, capacity = (np.asarray(v, dtype=float) for v in (mean, sd, capacity))
    beyond = norm.sf((capacity - mean) / np.maximum(sd, 1e-9))
    return np.where(sd > 0, beyond, (mean > capacity).astype(float))


def solve(facility_id: int, targets: pd.DataFrame, usual: pd.DataFrame, config: Staffing) -> Plan:
    """The least-cost plan for one facility (``targets``: unit, shift_start, shift, census, and
    the forecast's census_mean and census_sd, from ``shift_targets``; ``usual``: that facility's
    usual schedule, from ``usual_schedule``)."""
    units = sorted(targets["unit"].unique())
    if unknown := sorted(set(units) - set(usual["unit"])):
        raise PlanError(f"facility {facility_id} runs no unit {unknown} in its roster")
    starts = sorted(targets["shift_start"].unique())
    n_units, n_shifts = len(units), len(starts)
    grid = targets.set_index(["unit", "shift_start"]).reindex(
        pd.MultiIndex.from_product([units, starts])
    )
    if grid["census"].isna().any():
        raise PlanError("the census to plan for has gaps: every unit needs every shift")
    ratio = np.array([config.safe_patients_per_nurse[u] for u in units])
    need = grid["census"].to_numpy().reshape(n_units, n_shifts) / ratio[:, None]
    kinds = grid["shift"].to_numpy().reshape(n_units, n_shifts)
    typical = usual.set_index(["unit", "shift"])["usual_rn"]
    usual_rn = np.array([[typical.get((u, k), 0.0) for k in kinds[i]] for i, u in enumerate(units)])
    staff_cap = np.ceil((1 + config.extra_staff_share) * usual_rn)
    overtime_cap = np.floor(config.overtime_share * usual_rn)
    pairs = [
        (i, j)
        for i in range(n_units)
        for j in range(n_units)
        if i != j and units[j] not in config.no_floats_into
    ]
    # Variables, shift-major within each block: x (U·S), o (U·S), a (U·S), y (P·S).
    cells = n_units * n_shifts
    n_vars = 3 * cells + len(pairs) * n_shifts
    rates = config.hourly_usd
    cost = SHIFT_HOURS * np.concatenate(
        [
            np.full(cells, rates["staff"]),
            np.full(cells, rates["overtime"]),
            np.full(cells, rates["agency"]),
            np.full(len(pairs) * n_shifts, rates["float"]),
        ]
    )
    cover, supply = sparse.lil_matrix((cells, n_vars)), sparse.lil_matrix((cells, n_vars))
    for u in range(n_units):
        for s in range(n_shifts):
            cell = u * n_shifts + s
            cover[cell, cell] = 1.0
            cover[cell, cells + cell] = 1.0
            cover[cell, 2 * cells + cell] = 1.0
            supply[cell, cell] = 1.0
    for p, (i, j) in enumerate(pairs):
        for s in range(n_shifts):
            column = 3 * cells + p * n_shifts + s
            cover[j * n_shifts + s, column] = 1.0
            supply[i * n_shifts + s, column] = 1.0
    upper = np.concatenate(
        [
            staff_cap.ravel(),
            overtime_cap.ravel(),
            np.ceil(need).ravel() + 1,
            staff_cap[[i for i, _ in pairs]].ravel(),
        ]
    )
    started = time.perf_counter()
    result = milp(
        cost,
        constraints=[
            LinearConstraint(cover.tocsr(), need.ravel(), np.inf),
            LinearConstraint(supply.tocsr(), 0, staff_cap.ravel()),
        ],
        integrality=np.ones(n_vars),
        bounds=Bounds(0, upper),
    )
    seconds = time.perf_counter() - started
    if not result.success:
        raise PlanError(f"facility {facility_id}: the solver found no plan ({result.message})")
    values = np.round(result.x).astype(np.int64)
    x, o, a = (values[k * cells : (k + 1) * cells].reshape(n_units, n_shifts) for k in range(3))
    y = values[3 * cells :].reshape(len(pairs), n_shifts)
    float_in, float_out = np.zeros_like(x), np.zeros_like(x)
    for p, (i, j) in enumerate(pairs):
        float_out[i] += y[p]
        float_in[j] += y[p]
    nurses = pd.DataFrame(
        {
            "facility_id": facility_id,
            "unit": np.repeat(units, n_shifts),
            "shift_start": np.tile(starts, n_units),
            "shift": kinds.ravel(),
            "census_planned": grid["census"].to_numpy(),
            "needed_rn": need.ravel(),
            "staff_rn": x.ravel(),
            "float_in_rn": float_in.ravel(),
            "float_out_rn": float_out.ravel(),
            "overtime_rn": o.ravel(),
            "agency_rn": a.ravel(),
        }
    )
    nurses["planned_rn"] = nurses[["staff_rn", "float_in_rn", "overtime_rn", "agency_rn"]].sum(
        axis=1
    )
    # The chance of each shift running beyond its ratio, as planned and on the usual schedule.
    capacity = np.repeat(ratio, n_shifts)
    mean, sd = grid["census_mean"].to_numpy(), grid["census_sd"].to_numpy()
    nurses["usual_rn"] = usual_rn.ravel()
    nurses["unsafe_chance"] = unsafe_chance(mean, sd, capacity * nurses["planned_rn"])
    nurses["usual_unsafe_chance"] = unsafe_chance(mean, sd, capacity * usual_rn.ravel())
    nurses["cost_usd"] = SHIFT_HOURS * (
        rates["staff"] * nurses["staff_rn"]
        + rates["float"] * nurses["float_in_rn"]
        + rates["overtime"] * nurses["overtime_rn"]
        + rates["agency"] * nurses["agency_rn"]
    )
    return Plan(facility_id, nurses, float(nurses["cost_usd"].sum()), seconds)


def plan_facility(
    by_shift: pd.DataFrame,
    roster: pd.DataFrame,
    facility_id: int,
    start: pd.Timestamp,
    config: OperationsConfig,
) -> Plan:
    """The plan for one facility's next ``forecast.horizon_days`` from the day ``start``, from
    the census by shift (``census.shift_census``) and the roster of the days before it."""
    if facility_id not in set(roster["facility_id"]):
        raise PlanError(
            f"no facility {facility_id} in the roster ({sorted(set(roster['facility_id']))})"
        )
    start = pd.Timestamp(start).normalize()
    mine = by_shift[(by_shift["facility_id"] == facility_id) & (by_shift["shift_start"] < start)]
    first = roster["shift_start"].min().normalize() + pd.Timedelta(days=config.forecast.warmup_days)
    mine = mine[mine["shift_start"] >= first]
    daily = census.daily_census(mine)
    daily = daily[daily["date"] < start]
    records_end = by_shift["shift_start"].max().normalize()
    if daily.empty or start > records_end:
        raise PlanError(
            f"a plan starts within the records, after {config.forecast.warmup_days} days of "
            f"warm-up and before {records_end:%Y-%m-%d} (asked: {start:%Y-%m-%d})"
        )
    horizon = config.forecast.horizon_days
    forecasts = []
    for unit, history in daily.groupby("unit"):
        series = history.set_index("date")["census"].asfreq("D")
        if series.index[-1] != start - pd.Timedelta(days=1):
            raise PlanError(f"no census for the day before {start:%Y-%m-%d} to plan from")
        forecasts.append(forecast.forecast(series, horizon).assign(unit=unit))
    recent = mine[mine["shift_start"] >= start - pd.Timedelta(weeks=config.staffing.history_weeks)]
    shares = (
        (
            recent.groupby(["unit", "shift"])["census"].mean()
            / recent.groupby("unit")["census"].mean().clip(lower=1e-9)
        )
        .rename("share")
        .reset_index()
    )
    day_start = int(roster.loc[roster["shift"] == SHIFTS[0], "shift_start"].dt.hour.iloc[0])
    targets = shift_targets(
        pd.concat(forecasts, ignore_index=True), shares, config.staffing.census_quantile, day_start
    )
    usual = usual_schedule(
        roster[roster["facility_id"] == facility_id], start, config.staffing.history_weeks
    )
    return solve(facility_id, targets, usual, config.staffing)
