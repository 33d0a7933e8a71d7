"""The synthetic hospital world: its plan and its patients.

``plan_world`` computes what every block of patients shares (identifier pools, seasonal calendars,
the severity chain's tables); ``patients`` draws a block's patients: who they are, their health
and how often they come to hospital. What happens to them in hospital is ``data_gen.stays``; what
the hospital records of it (the raw tables) is ``data_gen.records``. The equations are documented
in docs/world.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from configs.data_gen import DataGenConfig
from configs.vocabulary import PAYERS, RACES, UNITS
from data_gen import identifiers, severity
from data_gen.severity import ChainTables

if TYPE_CHECKING:
    from data_gen.medications import Formulary
    from data_gen.operations import Operations

HOURS_PER_DAY = 24.0
LAB_TESTS = {  # name: (unit, LOINC code); lactate last: it is drawn at admission only
    "haemoglobin": ("g/dL", "718-7"),
    "sodium": ("mmol/L", "2951-2"),
    "creatinine": ("mg/dL", "2160-0"),
    "wbc": ("10^9/L", "6690-2"),
    "lactate": ("mmol/L", "2524-7"),
}


@dataclass(frozen=True)
class WorldPlan:
    """Everything blocks share, computed once from the configuration."""

    config: DataGenConfig
    pools: identifiers.IdentifierPools
    chain: ChainTables
    span_days: int
    calendar_cdf: np.ndarray  # [diagnosis group, day]: cumulative admission density over the span
    comorbidity_names: list[str]
    charlson_weights: np.ndarray  # [comorbidity]
    superseded_by: np.ndarray  # [comorbidity]: index of the severer form, or -1
    affinity: np.ndarray  # [group, comorbidity]: log odds multiplier
    unplanned_groups: np.ndarray
    elective_groups: np.ndarray
    # Per diagnosis group attribute; procedure arrays are [group, slot], slot 0 meaning none.
    groups: dict[str, np.ndarray]
    comorbidity_lab_shifts: np.ndarray  # [comorbidity, lab test]
    dx_log_weights: np.ndarray  # [unplanned group]: calibrated base log-weights
    walk_in_day_cdf: np.ndarray  # [day]: cumulative density of ED visits that end at home
    # The first pass's census, beds and roster; None in the first pass itself.
    operations: Operations | None = None

    @property
    def n_blocks(self) -> int:
        return -(-self.config.n_patients // self.config.block_size)

    @cached_property
    def formulary(self) -> Formulary:
        from data_gen.medications import Formulary  # it builds on this module

        return Formulary.of(self.config.medications)

    @property
    def step_hours(self) -> float:
        return float(self.config.vitals_interval_hours)

    @property
    def start(self) -> np.datetime64:
        return np.datetime64(self.config.start_date, "s")


def plan_world(config: DataGenConfig) -> WorldPlan:
    span_days = (config.end_date - config.start_date).days
    days = np.array([config.start_date + dt.timedelta(days=d) for d in range(span_days)])
    day_of_year = np.array([d.timetuple().tm_yday for d in days])
    weekday = np.array([d.weekday() < 5 for d in days])
    by_weekday = np.asarray(config.utilisation.arrival_by_weekday)[[d.weekday() for d in days]]
    cdfs = []
    for group in config.diagnoses:
        if group.elective:
            density = weekday.astype(float)
        else:  # winter peak in mid-January, busiest on Mondays
            density = by_weekday * (
                1.0 + group.seasonal_amplitude * np.cos(2 * np.pi * (day_of_year - 15) / 365.25)
            )
        cdfs.append(_cdf(density))

    names = [c.name for c in config.comorbidities]
    charlson_weights = np.array([c.charlson_weight for c in config.comorbidities], dtype=float)
    superseded_by = np.full(len(names), -1)
    for index, c in enumerate(config.comorbidities):
        if c.supersedes is not None:
            superseded_by[names.index(c.supersedes)] = index
    affinity = np.zeros((len(config.diagnoses), len(names)))
    for g, group in enumerate(config.diagnoses):
        for name, multiplier in group.comorbidity_affinity.items():
            affinity[g, names.index(name)] = np.log(multiplier)
    max_steps = int(
        np.ceil(config.length_of_stay.max_days * HOURS_PER_DAY / config.vitals_interval_hours)
    )
    elective = np.array([g.elective for g in config.diagnoses])
    slots = 1 + max(len(g.procedures) for g in config.diagnoses)  # slot 0: no procedure
    procedure = {
        "procedure_probability": np.zeros((len(config.diagnoses), slots)),
        "procedure_cost_usd": np.zeros((len(config.diagnoses), slots)),
        "procedure_log_odds": np.zeros((len(config.diagnoses), slots)),
        "procedure_code": np.full((len(config.diagnoses), slots), None, dtype=object),
        "procedure_description": np.full((len(config.diagnoses), slots), None, dtype=object),
        # DRG weights without a CC or MCC, with a CC, with an MCC, of a stay with each procedure
        "drg_weights": np.zeros((len(config.diagnoses), slots, 3)),
    }
    for g, group in enumerate(config.diagnoses):
        procedure["procedure_probability"][g, 0] = 1.0 - sum(
            p.probability for p in group.procedures
        )
        procedure["drg_weights"][g, :] = group.drg_weights
        for slot, p in enumerate(group.procedures, start=1):
            procedure["procedure_probability"][g, slot] = p.probability
            procedure["procedure_cost_usd"][g, slot] = p.cost_usd
            procedure["procedure_log_odds"][g, slot] = p.complication_log_odds
            procedure["procedure_code"][g, slot] = p.code
            procedure["procedure_description"][g, slot] = p.description
            if p.drg_weights is not None:
                procedure["drg_weights"][g, slot] = p.drg_weights
    groups = {
        field: np.array([getattr(g, field) for g in config.diagnoses])
        for field in (
            "los_days",
            "cost_base_usd",
            "acuity",
            "deterioration",
            "readmit_log_odds",
            "success_log_odds",
            "infection",
            "oncology",
            "unit",
            "elective",
        )
    }
    groups["unit_index"] = np.array([UNITS.index(g.unit) for g in config.diagnoses])
    groups["lab_shifts"] = _lab_shift_matrix([g.lab_shifts for g in config.diagnoses])
    groups.update(procedure)
    return WorldPlan(
        config=config,
        pools=identifiers.build_pools(config.seed),
        chain=severity.chain_tables(
            config.severity, max_steps, config.medications.antibiotic_timing.late_up_probability
        ),
        span_days=span_days,
        calendar_cdf=np.array(cdfs),
        comorbidity_names=names,
        charlson_weights=charlson_weights,
        superseded_by=superseded_by,
        affinity=affinity,
        unplanned_groups=np.flatnonzero(~elective),
        elective_groups=np.flatnonzero(elective),
        groups=groups,
        comorbidity_lab_shifts=_lab_shift_matrix([c.lab_shifts for c in config.comorbidities]),
        dx_log_weights=_calibrated_dx_weights(
            config, superseded_by, charlson_weights, affinity, np.flatnonzero(~elective)
        ),
        walk_in_day_cdf=_cdf(by_weekday),
    )


def hour_weights(plan: WorldPlan, rows: int) -> np.ndarray:
    """[rows, 24]: the share of unplanned arrivals in each hour of the day."""
    by_hour = np.array(plan.config.utilisation.arrival_by_hour, dtype=float)
    return np.broadcast_to(by_hour / by_hour.sum(), (rows, 24))


def at(plan: WorldPlan, hours: np.ndarray) -> np.ndarray:
    """Timestamps (whole seconds) from hours since the span start."""
    return plan.start + np.round(np.asarray(hours, dtype=float) * 3600.0).astype("timedelta64[s]")


def academic_facility(config: DataGenConfig) -> int:
    """The index of the academic centre, which takes the patients sent beyond their home."""
    return next(i for i, f in enumerate(config.facilities) if f.type == "academic")


def _cdf(density: np.ndarray) -> np.ndarray:
    """The cumulative density over the span's days, from 0 before the first to 1 after the last."""
    return np.concatenate([[0.0], np.cumsum(density) / density.sum()])


def _lab_shift_matrix(shifts: list[dict[str, float]]) -> np.ndarray:
    return np.array([[s.get(test, 0.0) for test in LAB_TESTS] for s in shifts]).reshape(
        -1, len(LAB_TESTS)
    )


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def logit(p: float) -> float:
    """The log odds of a probability; 0 and 1 are taken a hair inside, so that a configured rule
    may be impossible or certain."""
    p = min(max(p, 1e-12), 1.0 - 1e-12)
    return float(np.log(p / (1.0 - p)))


def choose(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a [rows, categories] probability matrix."""
    return choose_with(rng.random(len(probabilities)), probabilities)


def choose_with(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The category each row's uniform ``u`` falls in, with [row, category] weights."""
    cumulative = np.cumsum(weights, axis=1)
    position = u * cumulative[:, -1]
    return np.minimum((cumulative < position[:, None]).sum(axis=1), weights.shape[1] - 1)


def _shares(
    rng: np.random.Generator, n: int, shares: dict[str, float], names: tuple[str, ...]
) -> np.ndarray:
    weights = np.array([shares.get(name, 0.0) for name in names])
    return np.array(names, dtype=object)[choose(rng, np.broadcast_to(weights, (n, len(names))))]


def lookup(keys: np.ndarray, mapping: dict[str, float], default: float = 0.0) -> np.ndarray:
    return pd.Series(keys).map(mapping).fillna(default).to_numpy(dtype=float)


def decades_over_65(age: np.ndarray) -> np.ndarray:
    return (age - 65.0) / 10.0


# --------------------------------------------------------------------------------------------
# Patients


@dataclass
class Patients:
    index: np.ndarray  # global patient index, 1-based: the raw patient_id
    age: np.ndarray  # years at the start of the span
    female: np.ndarray
    payer: np.ndarray
    frailty: np.ndarray
    home_facility: np.ndarray  # 0-based facility index
    comorbid: np.ndarray  # [patient, comorbidity] bool
    charlson: np.ndarray
    unplanned_rate: np.ndarray  # per year
    elective_rate: np.ndarray
    ed_rate: np.ndarray
    dx_probabilities: np.ndarray  # [patient, unplanned group]
    # [patient, comorbidity]: which of the condition's codes this patient carries
    code_choice: np.ndarray
    table: pd.DataFrame


def _health(
    c: DataGenConfig,
    superseded_by: np.ndarray,
    charlson_weights: np.ndarray,
    rng: np.random.Generator,
    n: int,
) -> dict[str, np.ndarray]:
    """Age, latent frailty, chronic conditions, true Charlson index and unplanned admission rate."""
    pop, use = c.population, c.utilisation
    age = pop.age_min + (pop.age_max - pop.age_min) * rng.beta(*pop.age_beta, n)
    frailty = rng.normal(pop.frailty_per_decade * decades_over_65(age), 1.0)
    logits = np.array([logit(x.prevalence_at_65) for x in c.comorbidities])
    slopes = np.log([x.odds_ratio_per_decade for x in c.comorbidities])
    linear = (
        logits + np.outer(decades_over_65(age), slopes) + pop.comorbidity_frailty * frailty[:, None]
    )
    comorbid = rng.random(linear.shape) < sigmoid(linear)
    counted = comorbid.copy()
    severer = superseded_by >= 0
    counted[:, severer] &= ~comorbid[:, superseded_by[severer]]
    charlson = counted.astype(float) @ charlson_weights
    unplanned_rate = use.unplanned_admissions_per_year * np.exp(
        use.age_per_decade * decades_over_65(age) + use.charlson * charlson + use.frailty * frailty
    )
    return {
        "age": age,
        "frailty": frailty,
        "comorbid": comorbid,
        "charlson": charlson,
        "unplanned_rate": unplanned_rate,
    }


def _diagnosis_probabilities(
    log_weights: np.ndarray, comorbid: np.ndarray, affinity: np.ndarray
) -> np.ndarray:
    """[patient, unplanned group]: principal-diagnosis probabilities of an unplanned admission."""
    logits = log_weights + comorbid.astype(float) @ affinity.T
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def _calibrated_dx_weights(
    c: DataGenConfig,
    superseded_by: np.ndarray,
    charlson_weights: np.ndarray,
    affinity: np.ndarray,
    unplanned: np.ndarray,
    cohort: int = 50_000,
    rounds: int = 30,
) -> np.ndarray:
    """Base log-weights that give each unplanned group its configured share of admissions.

    Comorbidity affinity raises some groups (a COPD exacerbation needs COPD); a fixed-point
    iteration on a seeded reference cohort, weighted by each patient's admission rate, offsets it.
    """
    rng = np.random.default_rng(np.random.SeedSequence(c.seed, spawn_key=(2**32 - 1,)))
    health = _health(c, superseded_by, charlson_weights, rng, cohort)
    target = np.array([c.diagnoses[g].share for g in unplanned])
    target = target / target.sum()
    log_weights = np.log(target)
    rate = health["unplanned_rate"] / health["unplanned_rate"].sum()
    for _ in range(rounds):
        probabilities = _diagnosis_probabilities(
            log_weights, health["comorbid"], affinity[unplanned]
        )
        achieved = rate @ probabilities
        log_weights = log_weights + np.log(target / achieved)
    return log_weights


def draw_patients(plan: WorldPlan, rng: np.random.Generator, block: int) -> Patients:
    c = plan.config
    pop, use = c.population, c.utilisation
    first = block * c.block_size
    n = min(c.block_size, c.n_patients - first)
    index = np.arange(first + 1, first + n + 1, dtype=np.int64)

    health = _health(c, plan.superseded_by, plan.charlson_weights, rng, n)
    age, frailty, comorbid, charlson = (
        health[k] for k in ("age", "frailty", "comorbid", "charlson")
    )
    female = rng.random(n) < pop.female_share
    race = _shares(rng, n, pop.race_shares, RACES)
    hispanic = rng.random(n) < pop.hispanic_share
    payer = np.where(
        age < 65,
        _shares(rng, n, pop.payer_shares_under_65, PAYERS),
        _shares(rng, n, pop.payer_shares_65_plus, PAYERS),
    )
    facility_share = np.array([f.patient_share for f in c.facilities])
    home = choose(rng, np.broadcast_to(facility_share, (n, len(facility_share))))
    elective_rate = np.full(n, use.elective_admissions_per_year)
    ed_rate = use.ed_visits_per_year * np.exp(
        use.ed_frailty * frailty + lookup(payer, use.ed_payer)
    )
    dx_probabilities = _diagnosis_probabilities(
        plan.dx_log_weights, comorbid, plan.affinity[plan.unplanned_groups]
    )

    birth = plan.start - (age * 365.25 * 86400).astype("timedelta64[s]")
    zip3 = np.empty(n, dtype=object)
    for f, facility in enumerate(c.facilities):
        mine = home == f
        zip3[mine] = np.array(facility.zip3, dtype=object)[
            rng.integers(0, len(facility.zip3), mine.sum())
        ]
    code_choice = rng.integers(0, 1 << 30, (n, len(c.comorbidities)))
    named = identifiers.names_and_addresses(rng, plan.pools, female)
    table = pd.DataFrame(
        {
            "patient_id": index,
            "mrn": identifiers.mrn_for(index, c.seed),
            "ssn": identifiers.ssn_for(index, c.seed),
            "first_name": named["first_name"],
            "last_name": named["last_name"],
            "birth_date": birth.astype("datetime64[D]"),
            "sex": np.where(female, "F", "M"),
            "race": race,
            "ethnicity": np.where(hispanic, "hispanic", "not_hispanic"),
            "address": named["address"],
            "city": named["city"],
            "state": pop.state,
            "zip": zip3 + np.char.zfill(rng.integers(0, 100, n).astype(str), 2).astype(object),
            "phone": identifiers.phone_numbers(rng, n, pop.phone_area_codes),
            "payer": payer,
            "home_facility_id": home + 1,
        }
    )
    return Patients(
        index=index,
        age=age,
        female=female,
        payer=payer,
        frailty=frailty,
        home_facility=home,
        comorbid=comorbid,
        charlson=charlson,
        unplanned_rate=health["unplanned_rate"],
        elective_rate=elective_rate,
        ed_rate=ed_rate,
        dx_probabilities=dx_probabilities,
        code_choice=code_choice,
        table=table,
    )
