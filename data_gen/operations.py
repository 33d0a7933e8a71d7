"""The hospital's operations: the census, the nurses on each shift and the crowding they make.

The world is drawn in two passes over the same seeds. The first draws the stays alone, to learn
the census of every facility and unit, hour by hour. From it come the staffed beds (sized to the
target utilisation), the hospital's occupancy (which makes admitted patients board in the ED and
everyone wait longer) and the registered-nurse roster of every 12-hour shift, set by an imperfect
rule: the schedule is budgeted from the unit's average census, not the day's, then sick calls
thin it and floats, overtime and agency nurses patch it, each only sometimes. The second pass
draws the world again with each shift's patients per nurse: above the unit's safe ratio, every
extra patient raises the odds of a deterioration and of its ending in death (failure to rescue).
Because the stays draw their random numbers in the same order whatever their outcome, the second
pass differs from the first only by what the staffing caused. Equations in docs/world.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from configs.data_gen import NurseStaffing
from configs.vocabulary import UNITS
from data_gen.severity import EVENT_TYPES
from data_gen.world import HOURS_PER_DAY, Patients, WorldPlan, academic_facility, hour_weights

if TYPE_CHECKING:
    from data_gen.stays import Stays

SHIFT_HOURS = 12
HOURS_OF_DAY = int(HOURS_PER_DAY)
HOURS_OF_WEEK = 7 * HOURS_OF_DAY
ICU, MEDICINE = UNITS.index("icu"), UNITS.index("medicine")
DEATH = EVENT_TYPES.index("death")
# The roster's random stream: a child of the world's seed that no patient block uses.
ROSTER_STREAM = 2**32
# The oracle's sums per shift, over the patients at risk of a first deterioration.
RISK_SUMS = ("base_events", "events", "base_deaths", "deaths")


def n_hours(plan: WorldPlan) -> int:
    return int(plan.span_days * HOURS_PER_DAY)


def n_shifts(plan: WorldPlan) -> int:
    """Shift 0 is the night shift running into the span's first morning; shift 2d + 1 the day
    shift of day d, 2d + 2 its night shift."""
    return 2 * plan.span_days + 1


def shift_of(plan: WorldPlan, hours: np.ndarray) -> np.ndarray:
    """The shift (index) under way at ``hours`` since the span start, clipped to the span."""
    start = plan.config.staffing.day_shift_start_hour
    shift = np.floor((np.asarray(hours, dtype=float) - start) / SHIFT_HOURS).astype(np.int64) + 1
    return np.clip(shift, 0, n_shifts(plan) - 1)


def shift_starts(plan: WorldPlan) -> np.ndarray:
    """Hours since the span start at which each shift begins (shift 0 before the span)."""
    start = plan.config.staffing.day_shift_start_hour
    return start + SHIFT_HOURS * (np.arange(n_shifts(plan)) - 1.0)


def patient_hours(
    plan: WorldPlan,
    facility: np.ndarray,
    unit: np.ndarray,
    start_h: np.ndarray,
    end_h: np.ndarray,
) -> np.ndarray:
    """Patient-hours per facility, unit and hour of the span ([facility, unit, hour]) of patients
    present from ``start_h`` to ``end_h`` (hours since the span start) on those units."""
    hours = n_hours(plan)
    size = len(plan.config.facilities) * len(UNITS) * hours
    start = np.clip(start_h, 0.0, hours)
    end = np.clip(end_h, 0.0, hours)
    present = end > start
    base = (facility * len(UNITS) + unit)[present] * hours
    start, end = start[present], end[present]
    first, last = np.floor(start).astype(np.int64), np.floor(end).astype(np.int64)
    # Whole hours from the first to the last (a running sum of +1 and -1), then the part of the
    # first hour before arrival taken off and the part of the last hour before leaving added.
    steps = np.bincount(base + first, minlength=size + 1)[: size + 1].astype(float)
    steps -= np.bincount(base + last, minlength=size + 1)[: size + 1]
    covered = np.cumsum(steps)[:size]
    partial = np.bincount(base + first, start - first, minlength=size + 1)[:size]
    partial -= np.bincount(base + last, end - last, minlength=size + 1)[:size]
    return (covered - partial).reshape(len(plan.config.facilities), len(UNITS), hours)


def exposure(
    plan: WorldPlan,
    facility: np.ndarray,
    ward_unit: np.ndarray,
    icu_until_h: np.ndarray,
    admit_h: np.ndarray,
    step: int | np.ndarray,
) -> np.ndarray:
    """Patients per nurse above the safe ratio that stays meet at a chain step: on the ICU for a
    direct admission's planned ICU hours, else on the ward unit of their diagnosis, in the shift
    under way when the step begins (none in the first pass)."""
    ops = plan.operations
    if ops is None:
        return np.zeros(np.broadcast(facility, step).shape)
    since_admission = step * plan.step_hours
    unit = np.where(since_admission < icu_until_h, ICU, ward_unit)
    return ops.excess[facility, unit, shift_of(plan, admit_h + since_admission)]


def staffed_risk(
    plan: WorldPlan, state: np.ndarray, excess: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The chain's event hazard per step and the event types' shares ([stay, type]) in a latent
    state, with ``excess`` patients per nurse above the safe ratio: each extra patient multiplies
    the odds of an event, and the odds that an event is a death, by the configured ratios."""
    staffing, chain = plan.config.staffing, plan.chain
    hazard = _with_odds(chain.hazard[state], staffing.event_odds_ratio_per_patient**excess)
    shares = chain.type_share[state]
    death = shares[:, DEATH]
    dying = _with_odds(death, staffing.death_odds_ratio_per_patient**excess)
    living = np.where(death < 1.0, (1.0 - dying) / np.maximum(1.0 - death, 1e-12), 0.0)
    shares = shares * living[:, None]
    shares[:, DEATH] = dying
    return hazard, shares


def _with_odds(probability: np.ndarray, odds_ratio: np.ndarray) -> np.ndarray:
    odds = probability / (1.0 - probability) * odds_ratio
    return odds / (1.0 + odds)


def block_census(plan: WorldPlan, stays: Stays) -> np.ndarray:
    """Patient-hours per facility, unit and hour ([facility, unit, hour]) of the stays that
    happened: a direct ICU admission on the ICU for its ICU days, then on its ward unit; a
    transfer on the ward, the ICU from its event for its ICU days, then the ward again."""
    ward = plan.groups["unit_index"][stays.group]
    start, end = stays.admit_h, stays.discharge_h
    direct = stays.unit == "icu"
    transfer = stays.event_type == "icu_transfer"
    icu_start = np.where(direct, start, start + np.nan_to_num(stays.event_h))
    icu_end = np.where(direct | transfer, icu_start + stays.icu_days * HOURS_PER_DAY, icu_start)
    pieces = [  # (unit, from, to)
        (np.full(len(start), ICU), icu_start, icu_end),
        (ward, start, np.where(direct, start, icu_start)),
        (ward, icu_end, end),
    ]
    return sum(
        patient_hours(plan, stays.facility, unit, begin, finish) for unit, begin, finish in pieces
    )


def block_ed_arrivals(plan: WorldPlan, patients: Patients, stays: Stays) -> np.ndarray:
    """The ED arrivals one block's patients are expected to make, per facility and hour
    ([facility, hour]): their walk-ins' expected number spread over the days and hours they come,
    and the stays admitted through the ED at their typical arrival (the median work-up and
    boarding before the admission)."""
    config, ed = plan.config, plan.config.emergency_department
    share = config.utilisation.home_facility_share
    expected = patients.ed_rate * plan.span_days / 365.25
    per_facility = np.bincount(
        patients.home_facility, expected * share, minlength=len(config.facilities)
    )
    per_facility[academic_facility(config)] += expected.sum() * (1.0 - share)
    over_span = np.outer(np.diff(plan.walk_in_day_cdf), hour_weights(plan, 1)[0]).ravel()
    arrivals = per_facility[:, None] * over_span[None, : n_hours(plan)]
    admitted = np.flatnonzero(stays.source == "emergency_department")
    lead = ed.workup_median_hours + ed.boarding_median_hours
    hour = np.floor(stays.admit_h[admitted] - lead).astype(np.int64)
    inside = (hour >= 0) & (hour < n_hours(plan))
    np.add.at(arrivals, (stays.facility[admitted[inside]], hour[inside]), 1.0)
    return arrivals


def risk_sums(plan: WorldPlan, stays: Stays) -> np.ndarray:
    """Per facility, unit and shift ([sum, facility, unit, shift], ``RISK_SUMS`` order), over the
    chain steps of the stays that happened while they were at risk of a first deterioration: the
    expected events and deaths at the safe ratio and at the staffing they met."""
    last = np.where(stays.event_step >= 0, stays.event_step, stays.n_steps - 1)
    counts = np.maximum(last + 1, 0)
    stay = np.repeat(np.arange(len(last)), counts)
    step = np.arange(len(stay)) - np.repeat(np.cumsum(counts) - counts, counts)
    state = stays.states[stay, step].astype(np.int64)
    ward = plan.groups["unit_index"][stays.group]
    facility, icu_until_h = stays.facility[stay], stays.icu_until_h[stay]
    excess = exposure(plan, facility, ward[stay], icu_until_h, stays.admit_h[stay], step)
    base_hazard, base_shares = staffed_risk(plan, state, np.zeros(len(state)))
    hazard, shares = staffed_risk(plan, state, excess)
    unit = np.where(step * plan.step_hours < icu_until_h, ICU, ward[stay])
    shift = shift_of(plan, stays.admit_h[stay] + step * plan.step_hours)
    cell = (facility * len(UNITS) + unit) * n_shifts(plan) + shift
    size = len(plan.config.facilities) * len(UNITS) * n_shifts(plan)
    weights = (
        base_hazard,
        hazard,
        base_hazard * base_shares[:, DEATH],
        hazard * shares[:, DEATH],
    )
    return np.stack([np.bincount(cell, w, minlength=size) for w in weights]).reshape(
        len(RISK_SUMS), len(plan.config.facilities), len(UNITS), n_shifts(plan)
    )


@dataclass(frozen=True)
class Operations:
    """What the second pass takes from the first: the hospital's occupancy and each shift's
    patients per nurse above the safe ratio."""

    occupancy: np.ndarray  # [facility, hour]: patients present / staffed beds
    excess: np.ndarray  # [facility, unit, shift]
    ed_load: np.ndarray  # [facility, hour of the week]: expected ED arrivals / those staffed for


@dataclass(frozen=True)
class Staffing:
    """The first pass's census, the beds sized from it and the roster drawn from it."""

    staffed_beds: np.ndarray  # [facility]
    icu_beds: np.ndarray  # [facility]
    host: np.ndarray  # [facility, unit]: the unit whose nurses care for the unit's patients
    census: np.ndarray  # [facility, unit, shift]: mean patients present during the shift, by host
    nurses: dict[str, np.ndarray]  # each [facility, unit, shift]: nurses by how they came
    ed_expected: np.ndarray  # [facility, hour of the week]: the ED arrivals expected per hour
    ed_providers: np.ndarray  # [facility, hour of the day]: ED providers on duty

    @property
    def worked(self) -> np.ndarray:
        return self.nurses["worked_rn"]


def plan_operations(
    plan: WorldPlan, census_hours: np.ndarray, ed_arrivals: np.ndarray
) -> tuple[Operations, Staffing]:
    """Beds, occupancy, the nurse roster and the ED's providers from the first pass's census, in
    patient-hours ([facility, unit, hour]), and its expected ED arrivals ([facility, hour])."""
    config = plan.config
    span = plan.span_days
    bed_days = census_hours.sum(axis=(1, 2)) / HOURS_PER_DAY
    icu_days = census_hours[:, ICU].sum(axis=1) / HOURS_PER_DAY
    staffed = np.maximum(np.ceil(bed_days / (span * config.capacity.target_bed_utilisation)), 1)
    icu = np.ceil(icu_days / (span * config.capacity.target_icu_utilisation))
    starts = shift_starts(plan)
    edges = np.clip(starts, 0, n_hours(plan)).astype(np.int64)
    lengths = np.diff(np.append(edges, n_hours(plan)))
    by_unit = np.add.reduceat(census_hours, edges, axis=2) / lengths
    host = host_units(plan, by_unit)
    census = np.zeros_like(by_unit)
    for f in range(census.shape[0]):
        np.add.at(census[f], host[f], by_unit[f])
    nurses = draw_roster(plan, census)
    per_nurse = census / np.maximum(nurses["worked_rn"], 1)
    excess = np.maximum(per_nurse - safe_ratios(plan)[None, :, None], 0.0)
    staffed_for = ed_staffed_for(plan, ed_arrivals)
    needed = np.ceil(
        np.round(staffed_for / config.emergency_department.patients_per_provider_hour, 9)
    )
    providers = np.maximum(needed, 1).astype(np.int64)
    expected = weekly_rate(plan, ed_arrivals)
    operations = Operations(
        occupancy=(census_hours.sum(axis=1) / staffed[:, None]).astype(np.float32),
        excess=np.take_along_axis(excess, host[:, :, None], axis=1).astype(np.float32),
        ed_load=(
            expected / np.maximum(staffed_for[:, np.arange(HOURS_OF_WEEK) % HOURS_OF_DAY], 1e-9)
        ).astype(np.float32),
    )
    staffing = Staffing(
        staffed.astype(np.int64), icu.astype(np.int64), host, census, nurses, expected, providers
    )
    return operations, staffing


def hour_of_week(plan: WorldPlan, hours: np.ndarray) -> np.ndarray:
    """The hour of the week (0 at Monday 00:00) at ``hours`` since the span start."""
    monday = pd.Timestamp(plan.config.start_date).dayofweek * HOURS_OF_DAY
    return (monday + np.floor(hours).astype(np.int64)) % HOURS_OF_WEEK


def weekly_rate(plan: WorldPlan, arrivals: np.ndarray) -> np.ndarray:
    """[facility, hour of the week]: the mean of hourly arrivals ([facility, hour]) over the
    span's hours at that hour of the week."""
    week_hour = hour_of_week(plan, np.arange(arrivals.shape[1]))
    counts = np.bincount(week_hour, minlength=HOURS_OF_WEEK)
    return np.stack([np.bincount(week_hour, f, minlength=HOURS_OF_WEEK) / counts for f in arrivals])


def ed_staffed_for(plan: WorldPlan, arrivals: np.ndarray) -> np.ndarray:
    """[facility, hour of the day]: the arrivals per hour the ED's providers are sized for, the
    average over the span of the block of the day (from one of ``provider_shift_start_hours`` to
    the next) the hour belongs to."""
    starts = np.asarray(plan.config.emergency_department.provider_shift_start_hours)
    hour_of_day = np.arange(arrivals.shape[1]) % HOURS_OF_DAY
    # The hours before the first start belong to the block that began the evening before.
    block = (np.searchsorted(starts, np.arange(HOURS_OF_DAY), side="right") - 1) % len(starts)
    staffed_for = np.zeros((arrivals.shape[0], HOURS_OF_DAY))
    for b in range(len(starts)):
        in_block = np.isin(hour_of_day, np.flatnonzero(block == b))
        staffed_for[:, block == b] = arrivals[:, in_block].mean(axis=1)[:, None]
    return staffed_for


def host_units(plan: WorldPlan, census: np.ndarray) -> np.ndarray:
    """[facility, unit]: the unit that nurses a unit's patients. A facility runs a unit of its
    own when the unit's average census needs ``unit_min_nurses`` at its safe ratio; the patients
    of smaller units are nursed on its medicine unit."""
    needed = census.mean(axis=2) / safe_ratios(plan)[None, :]
    own = needed >= plan.config.staffing.unit_min_nurses
    own[:, MEDICINE] = True
    return np.where(own, np.arange(len(UNITS))[None, :], MEDICINE)


def safe_ratios(plan: WorldPlan) -> np.ndarray:
    """Each unit's safe patients per nurse, in ``UNITS`` order."""
    return np.array([plan.config.staffing.safe_patients_per_nurse[u] for u in UNITS])


def nurses_needed(plan: WorldPlan, census: np.ndarray) -> np.ndarray:
    """Nurses that keep each unit within its safe ratio for a census ([facility, unit, shift])."""
    return np.ceil(np.round(census / safe_ratios(plan)[None, :, None], 9)).astype(np.int64)


def draw_roster(plan: WorldPlan, census: np.ndarray) -> dict[str, np.ndarray]:
    """Nurses per facility, unit and shift, by how they came (docs/world.md, Nurse staffing)."""
    staffing = plan.config.staffing
    rng = np.random.default_rng(
        np.random.SeedSequence(plan.config.seed, spawn_key=(ROSTER_STREAM,))
    )
    day = (np.arange(census.shape[2]) % 2) == 1
    budget = np.where(
        day[None, None, :],
        census[:, :, day].mean(axis=2, keepdims=True),
        census[:, :, ~day].mean(axis=2, keepdims=True),
    )
    scheduled = np.ceil(
        np.round(staffing.budget_cushion * budget / safe_ratios(plan)[None, :, None], 9)
    ).astype(np.int64)
    return work_shifts(staffing, rng, scheduled, nurses_needed(plan, census))


def work_shifts(
    staffing: NurseStaffing,
    rng: np.random.Generator,
    scheduled: np.ndarray,
    needed: np.ndarray,
    booked: np.ndarray | int = 0,
) -> dict[str, np.ndarray]:
    """What the day does to a schedule ([facility, unit, shift] arrays): scheduled staff call in
    sick, then each short unit is patched from what the facility's other units can spare that
    shift (floats), by overtime and by agency, each only sometimes. ``booked`` nurses were booked
    ahead (a plan's overtime and agency): present without sick calls, and paid by whoever booked
    them. The world's roster is this applied to its budgeted schedule; a plan can be judged by
    applying it to the plan's."""
    sick = rng.binomial(scheduled, staffing.sick_call_rate)
    available = scheduled - sick
    gap = needed - available - booked
    short, spare = np.maximum(gap, 0), np.minimum(np.maximum(-gap, 0), available)
    # Floats: the short units of a facility ask, in unit order, from what the others can spare.
    asked = rng.binomial(short, staffing.float_fill)
    pool = spare.sum(axis=1, keepdims=True)
    given = np.minimum(asked, np.maximum(pool - (np.cumsum(asked, axis=1) - asked), 0))
    lent = given.sum(axis=1, keepdims=True)
    taken = np.minimum(spare, np.maximum(lent - (np.cumsum(spare, axis=1) - spare), 0))
    still_short = short - given
    overtime = rng.binomial(still_short, staffing.overtime_fill)
    agency = rng.binomial(still_short - overtime, staffing.agency_fill)
    worked = available - taken + given + overtime + agency + booked
    rates = staffing.hourly_usd
    cost = SHIFT_HOURS * (
        rates["staff"] * (available - taken)
        + rates["float"] * given
        + rates["overtime"] * overtime
        + rates["agency"] * agency
    )
    return {
        "scheduled_rn": scheduled,
        "sick_calls": sick,
        "float_in_rn": given,
        "float_out_rn": taken,
        "overtime_rn": overtime,
        "agency_rn": agency,
        "worked_rn": worked,
        "cost_usd": cost.astype(float),
    }


def staffing_tables(
    plan: WorldPlan, ops: Operations, staffing: Staffing, risk: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw nurse-staffing table (one row per facility, unit and shift begun within the span,
    for the units a facility staffs or has patients on) and the oracle's: the census and the
    patients per nurse the second pass used and, per shift, the expected first deteriorations and
    deaths among the patients at risk at that staffing and at the safe ratio (``risk``: [sum,
    facility, unit, shift] in ``RISK_SUMS`` order)."""
    facilities, units, shifts = staffing.census.shape
    hosting = np.zeros((facilities, units), dtype=bool)
    hosting[np.arange(facilities)[:, None], staffing.host] = True
    hosted_risk = np.zeros_like(risk)
    for f in range(facilities):
        np.add.at(hosted_risk[:, f], (slice(None), staffing.host[f]), risk[:, f])
    f, u, s = np.meshgrid(np.arange(facilities), np.arange(units), np.arange(shifts), indexing="ij")
    rows = hosting[f, u] & (s >= 1)
    rows &= shift_starts(plan)[s] < n_hours(plan)
    start = plan.start + (shift_starts(plan)[s[rows]] * 3600).astype("timedelta64[s]")
    keys = {
        "facility_id": f[rows] + 1,
        "unit": np.array(UNITS, dtype=object)[u[rows]],
        "shift_start": start,
    }
    raw = pd.DataFrame(
        {
            **keys,
            "shift": np.where(s[rows] % 2 == 1, "day", "night").astype(object),
            **{name: values[rows] for name, values in staffing.nurses.items()},
            "rn_hours": SHIFT_HOURS * staffing.worked[rows].astype(float),
        }
    )
    oracle = pd.DataFrame(
        {
            **keys,
            "census": staffing.census[rows],
            "patients_per_nurse": (staffing.census / np.maximum(staffing.worked, 1))[rows],
            "excess_patients_per_nurse": ops.excess[rows].astype(float),
            **{name: hosted_risk[i][rows] for i, name in enumerate(RISK_SUMS)},
        }
    )
    return raw, oracle


def ed_tables(plan: WorldPlan, ops: Operations, staffing: Staffing) -> dict[str, pd.DataFrame]:
    """The raw table of the ED's providers on duty by facility and hour of the day, and the
    oracle's expected arrivals, providers, load and wait multiplier by facility and hour of the
    week."""
    facilities = staffing.ed_expected.shape[0]
    facility = np.repeat(np.arange(facilities), HOURS_OF_WEEK)
    week_hour = np.tile(np.arange(HOURS_OF_WEEK), facilities)
    load = ops.ed_load.ravel().astype(float)
    return {
        "ed_providers": pd.DataFrame(
            {
                "facility_id": np.repeat(np.arange(facilities), HOURS_OF_DAY) + 1,
                "hour": np.tile(np.arange(HOURS_OF_DAY), facilities),
                "providers": staffing.ed_providers.ravel(),
            }
        ),
        "oracle_ed_load": pd.DataFrame(
            {
                "facility_id": facility + 1,
                "weekday": week_hour // HOURS_OF_DAY,
                "hour": week_hour % HOURS_OF_DAY,
                "expected_arrivals": staffing.ed_expected.ravel(),
                "providers": staffing.ed_providers[facility, week_hour % HOURS_OF_DAY],
                "load": load,
                "wait_multiplier": provider_wait_multiplier(plan, load),
            }
        ),
    }


def provider_wait_multiplier(plan: WorldPlan, load: np.ndarray) -> np.ndarray:
    """What the ED's load does to the waits for a provider: exp(provider_load_wait (load - 1))."""
    return np.exp(plan.config.emergency_department.provider_load_wait * (load - 1.0))
