"""One block of the synthetic hospital world: patients, their stays and all that is recorded.

``plan_world`` computes what every block shares (identifier pools, seasonal calendars, the severity
chain's tables); ``generate_block`` draws one block of patients from its own seed and returns every
raw table and oracle table for them. The equations are documented in docs/world.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from configs.data_gen import DataGenConfig
from configs.vocabulary import DISPOSITIONS, PAYERS, PROTOCOLS, RACES
from data_gen import identifiers, severity
from data_gen.severity import EVENT_TYPES, ChainTables

HOURS_PER_DAY = 24.0
DETERIORATION_WINDOW_HOURS = 24
LAB_TESTS = {  # name: (unit, LOINC code); lactate last: it is drawn at admission only
    "haemoglobin": ("g/dL", "718-7"),
    "sodium": ("mmol/L", "2951-2"),
    "creatinine": ("mg/dL", "2160-0"),
    "wbc": ("10^9/L", "6690-2"),
    "lactate": ("mmol/L", "2524-7"),
}
ACVPU_NOT_ALERT = np.array(["C", "V", "P", "U"], dtype=object)
ACVPU_NOT_ALERT_SHARE = np.array([0.6, 0.25, 0.1, 0.05])
# Unplanned arrivals by hour of day: quiet at night, busiest in the afternoon and evening.
# fmt: off
ARRIVAL_BY_HOUR = np.array([2, 2, 1.5, 1.2, 1, 1, 1.2, 1.6, 2.4, 3.2, 3.8, 4,
                            4, 4, 4, 4, 4, 4, 3.8, 3.6, 3.2, 2.8, 2.4, 2.2])
# fmt: on
WALK_IN_ESI_SHARE = np.array([0.01, 0.10, 0.42, 0.36, 0.11])  # ESI 1..5 of visits not admitted
COMPLICATION_CODE = "T81.89XA"
ANAEMIA_CODE, HYPONATRAEMIA_CODE, AKI_CODE = "D64.9", "E87.1", "N17.9"


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

    @property
    def n_blocks(self) -> int:
        return -(-self.config.n_patients // self.config.block_size)

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
    cdfs = []
    for group in config.diagnoses:
        if group.elective:
            density = weekday.astype(float)
        else:  # winter peak in mid-January
            density = 1.0 + group.seasonal_amplitude * np.cos(
                2 * np.pi * (day_of_year - 15) / 365.25
            )
        cdfs.append(np.concatenate([[0.0], np.cumsum(density) / density.sum()]))

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
    }
    for g, group in enumerate(config.diagnoses):
        procedure["procedure_probability"][g, 0] = 1.0 - sum(
            p.probability for p in group.procedures
        )
        for slot, p in enumerate(group.procedures, start=1):
            procedure["procedure_probability"][g, slot] = p.probability
            procedure["procedure_cost_usd"][g, slot] = p.cost_usd
            procedure["procedure_log_odds"][g, slot] = p.complication_log_odds
            procedure["procedure_code"][g, slot] = p.code
            procedure["procedure_description"][g, slot] = p.description
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
    groups["lab_shifts"] = _lab_shift_matrix([g.lab_shifts for g in config.diagnoses])
    groups.update(procedure)
    return WorldPlan(
        config=config,
        pools=identifiers.build_pools(config.seed),
        chain=severity.chain_tables(config.severity, max_steps),
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
    )


def _lab_shift_matrix(shifts: list[dict[str, float]]) -> np.ndarray:
    return np.array([[s.get(test, 0.0) for test in LAB_TESTS] for s in shifts]).reshape(
        -1, len(LAB_TESTS)
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def _choice(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a [rows, categories] probability matrix."""
    cumulative = np.cumsum(probabilities, axis=1)
    u = rng.random(len(probabilities)) * cumulative[:, -1]
    return np.minimum((cumulative < u[:, None]).sum(axis=1), probabilities.shape[1] - 1)


def _shares(
    rng: np.random.Generator, n: int, shares: dict[str, float], names: tuple[str, ...]
) -> np.ndarray:
    weights = np.array([shares.get(name, 0.0) for name in names])
    return np.array(names, dtype=object)[_choice(rng, np.broadcast_to(weights, (n, len(names))))]


def _lookup(keys: np.ndarray, mapping: dict[str, float], default: float = 0.0) -> np.ndarray:
    return pd.Series(keys).map(mapping).fillna(default).to_numpy(dtype=float)


def _decades(age: np.ndarray) -> np.ndarray:
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
    frailty = rng.normal(pop.frailty_per_decade * _decades(age), 1.0)
    logits = np.array([_logit(x.prevalence_at_65) for x in c.comorbidities])
    slopes = np.log([x.odds_ratio_per_decade for x in c.comorbidities])
    linear = logits + np.outer(_decades(age), slopes) + pop.comorbidity_frailty * frailty[:, None]
    comorbid = rng.random(linear.shape) < _sigmoid(linear)
    counted = comorbid.copy()
    severer = superseded_by >= 0
    counted[:, severer] &= ~comorbid[:, superseded_by[severer]]
    charlson = counted.astype(float) @ charlson_weights
    unplanned_rate = use.unplanned_admissions_per_year * np.exp(
        use.age_per_decade * _decades(age) + use.charlson * charlson + use.frailty * frailty
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


def _patients(plan: WorldPlan, rng: np.random.Generator, block: int) -> Patients:
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
    home = _choice(rng, np.broadcast_to(facility_share, (n, len(facility_share))))
    elective_rate = np.full(n, use.elective_admissions_per_year)
    ed_rate = use.ed_visits_per_year * np.exp(
        use.ed_frailty * frailty + _lookup(payer, use.ed_payer)
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


# --------------------------------------------------------------------------------------------
# Admissions and the clinical course of each stay


def _admission_hours(plan: WorldPlan, rng: np.random.Generator, group: np.ndarray) -> np.ndarray:
    """Admission times (hours from the span start) from each group's seasonal calendar."""
    u = rng.random(len(group))
    day = np.zeros(len(group))
    for g in np.unique(group):
        mine = group == g
        day[mine] = np.searchsorted(plan.calendar_cdf[g], u[mine], side="right") - 1
    hour_weights = ARRIVAL_BY_HOUR / ARRIVAL_BY_HOUR.sum()
    unplanned_hour = _choice(rng, np.broadcast_to(hour_weights, (len(group), 24))) + rng.random(
        len(group)
    )
    elective_hour = 7.0 + 2.0 * rng.random(len(group))
    hour = np.where(plan.groups["elective"][group], elective_hour, unplanned_hour)
    return day * HOURS_PER_DAY + hour


def _index_admissions(
    plan: WorldPlan, rng: np.random.Generator, patients: Patients
) -> dict[str, np.ndarray]:
    years = plan.span_days / 365.25
    n = len(patients.index)
    unplanned = np.repeat(np.arange(n), rng.poisson(patients.unplanned_rate * years))
    elective = np.repeat(np.arange(n), rng.poisson(patients.elective_rate * years))
    unplanned_group = plan.unplanned_groups[_choice(rng, patients.dx_probabilities[unplanned])]
    shares = np.array([plan.config.diagnoses[g].share for g in plan.elective_groups])
    elective_group = plan.elective_groups[
        _choice(rng, np.broadcast_to(shares, (len(elective), len(shares))))
    ]
    group = np.concatenate([unplanned_group, elective_group])
    return {
        "patient": np.concatenate([unplanned, elective]),
        "group": group,
        "admit_h": _admission_hours(plan, rng, group),
        "parent": np.full(len(group), -1),
    }


def _draw_stays(
    plan: WorldPlan, rng: np.random.Generator, patients: Patients, batch: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Everything decided during a batch of stays: course, events, labs, outcomes, oracle values."""
    c = plan.config
    sev, los_cfg, treat, readm = c.severity, c.length_of_stay, c.treatment, c.readmission
    step = plan.step_hours
    patient, group, admit_h = batch["patient"], batch["group"], batch["admit_h"]
    n = len(patient)
    G = plan.groups
    age = patients.age[patient] + admit_h / (HOURS_PER_DAY * 365.25)
    decades, charlson, frailty = (
        _decades(age),
        patients.charlson[patient],
        patients.frailty[patient],
    )
    comorbid = patients.comorbid[patient]
    elective = G["elective"][group]
    urgent = ~elective & (rng.random(n) < c.utilisation.urgent_share)
    emergent = ~elective

    # Where and how the patient arrives.
    academic = next(i for i, f in enumerate(c.facilities) if f.type == "academic")
    facility = np.where(
        rng.random(n) < c.utilisation.home_facility_share, patients.home_facility[patient], academic
    )
    admission_type = np.where(elective, "elective", np.where(urgent, "urgent", "emergency")).astype(
        object
    )
    source = np.where(
        elective,
        "physician_referral",
        np.where(
            urgent,
            np.where(rng.random(n) < 0.5, "physician_referral", "transfer"),
            "emergency_department",
        ),
    ).astype(object)

    # Latent severity at admission and deterioration propensity.
    acuity = (
        G["acuity"][group]
        + sev.acuity_age_per_decade * decades
        + sev.acuity_charlson * charlson
        + sev.acuity_frailty * frailty
        + rng.normal(0.0, sev.acuity_noise_sd, n)
    )
    start_state = np.searchsorted(sev.state_thresholds, acuity, side="right")
    propensity = (
        G["deterioration"][group]
        + sev.group_age_per_decade * decades
        + sev.group_charlson * charlson
        + sev.group_frailty * frailty
        + rng.normal(0.0, sev.group_noise_sd, n)
    )
    det_group = np.searchsorted(sev.group_thresholds, propensity, side="right")
    direct_icu = rng.random(n) < np.asarray(sev.direct_icu_probability)[start_state]
    unit = np.where(direct_icu, "icu", G["unit"][group]).astype(object)

    # Lab baselines for the stay; the admission lactate drives protocol choice (confounding).
    lab_base = np.array([getattr(c.labs, t).baseline for t in LAB_TESTS])
    lab_base = (
        lab_base + G["lab_shifts"][group] + comorbid.astype(float) @ plan.comorbidity_lab_shifts
    )
    lab_base[:, 0] += np.where(patients.female[patient], c.labs.female_haemoglobin_shift, 0.0)
    admission_lactate = _lab_values(c, "lactate", lab_base[:, 4], start_state, rng)

    protocol_names = np.array(PROTOCOLS, dtype=object)
    protocol_logits = np.stack(
        [
            np.zeros(n),
            treat.enhanced_intercept
            + treat.enhanced_lactate * (admission_lactate - 1.0)
            + treat.enhanced_emergent * emergent,
            treat.conservative_intercept + treat.conservative_age_per_decade * decades,
        ],
        axis=1,
    )
    protocol = protocol_names[_choice(rng, np.exp(protocol_logits))]
    effect = _lookup(protocol, {k: v.true_effect_log_odds for k, v in treat.protocols.items()})
    protocol_los = _lookup(protocol, {k: v.los_multiplier for k, v in treat.protocols.items()})
    protocol_cost = _lookup(protocol, {k: v.cost_multiplier for k, v in treat.protocols.items()})

    # Procedure (at most one) and complication.
    procedure_slot = _choice(rng, G["procedure_probability"][group])
    comp_base = (
        c.complication.intercept
        + c.complication.age_per_decade * decades
        + c.complication.charlson * charlson
        + c.complication.severity_state * start_state
    )
    complication = rng.random(n) < _sigmoid(
        comp_base + G["procedure_log_odds"][group, procedure_slot]
    )
    p_complication = (
        G["procedure_probability"][group]
        * _sigmoid(comp_base[:, None] + G["procedure_log_odds"][group])
    ).sum(axis=1)

    # Planned length of stay.
    facility_los = np.array([f.los_multiplier for f in c.facilities])[facility]
    log_mean = (
        np.log(G["los_days"][group])
        - los_cfg.sigma**2 / 2
        + los_cfg.intercept
        + los_cfg.age_per_decade * decades
        + los_cfg.charlson * charlson
        + los_cfg.severity_state * start_state
        + los_cfg.deterioration_group * det_group
        + np.log(facility_los)
        + np.log(protocol_los)
    )
    min_days, max_days = los_cfg.min_hours / HOURS_PER_DAY, los_cfg.max_days
    planned_days = np.clip(
        np.exp(log_mean + los_cfg.complication * complication + rng.normal(0.0, los_cfg.sigma, n)),
        min_days,
        max_days,
    )
    planned_h = planned_days * HOURS_PER_DAY
    n_steps = severity.steps_in_stay(planned_h, step, plan.chain.max_steps)

    # The latent severity chain, one step per vitals interval.
    chain = plan.chain
    width = int(n_steps.max(initial=1))
    states = np.zeros((n, width), dtype=np.int8)
    state = start_state.astype(np.int64)
    event_step = np.full(n, -1)
    up = np.asarray(sev.up_probability)[det_group]
    down = np.asarray(sev.down_probability)[det_group]
    for j in range(width):
        states[:, j] = state
        event = (event_step < 0) & (j < n_steps) & (rng.random(n) < chain.hazard[state])
        event_step[event] = j
        move = rng.random(n)
        state = (
            state + ((move < up) & (state < 4)) - ((move >= up) & (move < up + down) & (state > 0))
        )
    has_event = event_step >= 0
    event_state = states[np.arange(n), np.maximum(event_step, 0)]
    event_type = np.array(EVENT_TYPES, dtype=object)[_choice(rng, chain.type_share[event_state])]
    event_type = np.where(has_event, event_type, None)
    event_type = np.where(direct_icu & (event_type == "icu_transfer"), "rapid_response", event_type)
    lower = event_step * step + severity.STEP_LEAD_HOURS
    upper = np.minimum((event_step + 1) * step, planned_h)
    event_h = np.where(has_event, lower + rng.random(n) * (upper - lower), np.nan)
    died = event_type == "death"
    los_h = np.where(died, event_h, planned_h)
    los_days = los_h / HOURS_PER_DAY
    n_obs = np.where(died, event_step + 1, n_steps)

    # ICU days: a share of the stay for direct admissions, an exponential stay after a transfer.
    direct_share = np.where(direct_icu, rng.uniform(*sev.direct_icu_fraction, n), 0.0)
    transfer_days = np.minimum(
        rng.exponential(sev.icu_transfer_mean_days, n),
        (los_h - np.nan_to_num(event_h)) / HOURS_PER_DAY,
    )
    icu_days = np.where(
        direct_icu,
        direct_share * los_days,
        np.where(event_type == "icu_transfer", transfer_days, 0.0),
    )

    # Labs: at admission, then daily; the last draw is the discharge value.
    labs = _lab_draws(plan, rng, lab_base, states, n_obs, los_h, admission_lactate)
    discharge_hb, discharge_na = labs["discharge"][:, 0], labs["discharge"][:, 1]

    # Discharge destination.
    disp = c.disposition
    disp_logits = np.stack(
        [
            disp.intercept.get(d, 0.0)
            + disp.age_per_decade.get(d, 0.0) * decades
            + disp.log_los_days.get(d, 0.0) * np.log(los_days)
            + disp.frailty.get(d, 0.0) * frailty
            for d in DISPOSITIONS
        ],
        axis=1,
    )
    disposition = np.array(DISPOSITIONS, dtype=object)[_choice(rng, np.exp(disp_logits))]
    disposition = np.where(died, "expired", disposition)

    # Related (unplanned) readmission.
    readmit_logit = (
        readm.intercept
        + G["readmit_log_odds"][group]
        + readm.age_per_decade * decades
        + readm.charlson * np.minimum(charlson, readm.charlson_cap)
        + readm.log_los_days * np.log(los_days)
        + readm.emergent * emergent
        + readm.frailty * frailty
        + readm.low_haemoglobin * (discharge_hb < 12.0)
        + readm.low_sodium * (discharge_na < 135.0)
        + readm.oncology * G["oncology"][group]
        + readm.procedure * (procedure_slot > 0)
        + readm.complication * complication
        + _lookup(patients.payer[patient], readm.payer)
        + _lookup(disposition, readm.disposition)
        + _lookup(protocol, readm.protocol)
    )
    p_related = np.where(died, 0.0, _sigmoid(readmit_logit))

    # Treatment success (survivors only) and cost.
    success_logit = (
        treat.success_intercept
        + G["success_log_odds"][group]
        + treat.success_age_per_decade * decades
        + treat.success_charlson * charlson
        + treat.success_severity_state * start_state
        + effect
    )
    success = (rng.random(n) < _sigmoid(success_logit)) & ~died
    cost_cfg = c.cost
    facility_cost = np.array([f.cost_index for f in c.facilities])[facility]
    multiplier = cost_cfg.scale * facility_cost * protocol_cost
    bill = (
        G["cost_base_usd"][group]
        + G["procedure_cost_usd"][group, procedure_slot]
        + cost_cfg.complication_usd * complication
        + cost_cfg.per_diem_ward_usd * (los_days - icu_days)
        + cost_cfg.per_diem_icu_usd * icu_days
    )
    noise = np.exp(rng.normal(0.0, cost_cfg.sigma, n) - cost_cfg.sigma**2 / 2)
    cost_usd = multiplier * bill * noise

    # Oracle: expectations at admission, integrating the planned stay, the chain and complications.
    expected = [
        severity.expected_stay(
            chain,
            det_group,
            start_state,
            log_mean + los_cfg.complication * flag,
            los_cfg.sigma,
            min_days,
            max_days,
            step / HOURS_PER_DAY,
            sev.icu_transfer_mean_days,
            np.where(direct_icu, np.mean(sev.direct_icu_fraction), 0.0),
        )
        for flag in (0.0, 1.0)
    ]
    weights = (1.0 - p_complication, p_complication)
    expected_los = sum(w * e.los_days for w, e in zip(weights, expected, strict=True))
    expected_icu = sum(w * e.icu_days for w, e in zip(weights, expected, strict=True))
    p_death = sum(w * e.p_death for w, e in zip(weights, expected, strict=True))
    expected_cost = multiplier * (
        G["cost_base_usd"][group]
        + (G["procedure_probability"][group] * G["procedure_cost_usd"][group]).sum(axis=1)
        + cost_cfg.complication_usd * p_complication
        + cost_cfg.per_diem_ward_usd * (expected_los - expected_icu)
        + cost_cfg.per_diem_icu_usd * expected_icu
    )

    return {
        **batch,
        "age": age,
        "facility": facility,
        "admission_type": admission_type,
        "source": source,
        "unit": unit,
        "emergent": emergent,
        "start_state": start_state,
        "det_group": det_group,
        "direct_icu": direct_icu,
        "protocol": protocol,
        "procedure_slot": procedure_slot,
        "complication": complication,
        "planned_days": planned_days,
        "n_steps": n_steps,
        "n_obs": n_obs,
        "states": states,
        "event_step": event_step,
        "event_type": event_type,
        "event_h": event_h,
        "died": died,
        "los_h": los_h,
        "icu_days": icu_days,
        "discharge_h": admit_h + los_h,
        "disposition": disposition,
        "p_related": p_related,
        "success": success,
        "cost_usd": cost_usd,
        "admission_labs": labs["admission"],
        "lab_rows": labs["rows"],
        "expected_los": expected_los,
        "expected_icu": expected_icu,
        "expected_cost": expected_cost,
        "p_death": p_death,
        "p_complication": p_complication,
        "p_success": _sigmoid(success_logit) * (1.0 - p_death),
    }


LOG_SCALE_TESTS = ("creatinine", "wbc", "lactate")


def _lab_values(
    c: DataGenConfig, test: str, base: np.ndarray, state: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    spec = getattr(c.labs, test)
    latent = state + rng.normal(0.0, c.vitals.latent_noise_sd, len(base))
    value = base + spec.per_state * latent + rng.normal(0.0, spec.noise_sd, len(base))
    if test in LOG_SCALE_TESTS:
        value = np.exp(value)
    return np.clip(value, spec.minimum, spec.maximum)


def _lab_draws(
    plan: WorldPlan,
    rng: np.random.Generator,
    lab_base: np.ndarray,
    states: np.ndarray,
    n_obs: np.ndarray,
    los_h: np.ndarray,
    admission_lactate: np.ndarray,
) -> dict[str, np.ndarray]:
    """Lab rows for every stay (as arrays), plus admission and discharge values per stay.

    Lactate is measured once, at admission, with the value that also guided the protocol choice.
    """
    interval = plan.config.labs.draw_interval_hours
    first = np.minimum(1.0, los_h / 2)
    draws = 1 + np.maximum(0, np.ceil((los_h - 2.0 - first) / interval) - 1).astype(np.int64)
    stay = np.repeat(np.arange(len(los_h)), draws)
    ordinal = np.arange(len(stay)) - np.repeat(np.cumsum(draws) - draws, draws)
    drawn_h = first[stay] + interval * ordinal
    step = np.minimum((drawn_h // plan.step_hours).astype(np.int64), n_obs[stay] - 1)
    state = states[stay, step]
    values = {}
    for t, test in enumerate(list(LAB_TESTS)[:-1]):
        values[test] = _lab_values(plan.config, test, lab_base[stay, t], state, rng)
    values["lactate"] = np.where(ordinal == 0, admission_lactate[stay], np.nan)
    last = np.cumsum(draws) - 1
    first_row = last - draws + 1
    matrix = np.stack([values[t] for t in LAB_TESTS], axis=1)
    return {
        "rows": {"stay": stay, "drawn_h": drawn_h, "ordinal": ordinal, **values},
        "admission": matrix[first_row],
        "discharge": matrix[last],
    }


# --------------------------------------------------------------------------------------------
# Readmission chains, the patient timeline and the block's tables


def _readmissions(
    plan: WorldPlan,
    rng: np.random.Generator,
    patients: Patients,
    stays: dict[str, np.ndarray],
    offset: int,
) -> dict[str, np.ndarray]:
    """Related readmissions caused by a batch of stays: real later stays of the same patients."""
    readm = plan.config.readmission
    span_h = plan.span_days * HOURS_PER_DAY
    related = rng.random(len(stays["patient"])) < stays["p_related"]
    gap_cdf_max = _weibull_cdf(plan, readm.max_gap_days)
    u = rng.random(len(related)) * gap_cdf_max
    gap_days = readm.gap_weibull_scale_days * (-np.log1p(-u)) ** (1.0 / readm.gap_weibull_shape)
    admit_h = stays["discharge_h"] + gap_days * HOURS_PER_DAY
    keep = related & (admit_h < span_h)
    patient = stays["patient"][keep]
    fresh = plan.unplanned_groups[_choice(rng, patients.dx_probabilities[patient])]
    same = rng.random(len(patient)) < readm.same_group_share
    return {
        "patient": patient,
        "group": np.where(same, stays["group"][keep], fresh),
        "admit_h": admit_h[keep],
        "parent": offset + np.flatnonzero(keep),
    }


def _weibull_cdf(plan: WorldPlan, days: np.ndarray | float) -> np.ndarray:
    readm = plan.config.readmission
    return 1.0 - np.exp(
        -((np.maximum(days, 0.0) / readm.gap_weibull_scale_days) ** readm.gap_weibull_shape)
    )


def _timeline(stays: dict[str, np.ndarray]) -> np.ndarray:
    """Stays that happen: none overlaps an earlier one, follows a death or lost its cause."""
    order = np.lexsort((stays["admit_h"], stays["patient"]))
    keep = np.zeros(len(order), dtype=bool)
    patient, admit, discharge = (
        stays["patient"].tolist(),
        stays["admit_h"].tolist(),
        stays["discharge_h"].tolist(),
    )
    parent, died = stays["parent"].tolist(), stays["died"].tolist()
    current, free_from, dead = -1, 0.0, False
    for i in order.tolist():
        if patient[i] != current:
            current, free_from, dead = patient[i], -np.inf, False
        if dead or admit[i] < free_from or (parent[i] >= 0 and not keep[parent[i]]):
            continue
        keep[i] = True
        free_from, dead = discharge[i], died[i]
    return keep


def _readmission_oracle(
    plan: WorldPlan, patients: Patients, stays: dict[str, np.ndarray], window_days: int
) -> np.ndarray:
    """P(an unplanned admission within the window after discharge), as the generator draws it.

    Related readmission with its gap distribution, or a background unplanned admission from the
    patient's seasonal Poisson process, both cut at the end of the span (unobserved).
    """
    span_days = plan.span_days
    start = stays["discharge_h"] / HOURS_PER_DAY
    end = np.minimum(start + window_days, span_days)
    related = (
        stays["p_related"]
        * _weibull_cdf(plan, end - start)
        / _weibull_cdf(plan, plan.config.readmission.max_gap_days)
    )
    grid = np.arange(span_days + 1)
    groups = plan.unplanned_groups
    mass = np.stack(
        [
            np.interp(end, grid, plan.calendar_cdf[g])
            - np.interp(start, grid, plan.calendar_cdf[g])
            for g in groups
        ],
        axis=1,
    )
    patient = stays["patient"]
    expected = (
        patients.unplanned_rate[patient]
        * span_days
        / 365.25
        * (patients.dx_probabilities[patient] * mass).sum(axis=1)
    )
    return np.where(stays["died"], np.nan, 1.0 - (1.0 - related) * np.exp(-expected))


def generate_block(plan: WorldPlan, block: int) -> dict[str, pd.DataFrame]:
    """All raw and oracle tables for one block of patients, from the block's own seed."""
    c = plan.config
    rng = np.random.default_rng(np.random.SeedSequence(c.seed, spawn_key=(block,)))
    patients = _patients(plan, rng, block)

    # Index admissions, then generation after generation of the readmissions they cause.
    batches, batch, offset = [], _index_admissions(plan, rng, patients), 0
    while not batches or len(batch["patient"]):
        stays = _draw_stays(plan, rng, patients, batch)
        batches.append(stays)
        batch = _readmissions(plan, rng, patients, stays, offset)
        offset += len(stays["patient"])
    stays = _concatenate(batches)
    keep = _timeline(stays)
    oracle = {
        f"p_readmit_{w}d": _readmission_oracle(plan, patients, stays, w) for w in (30, 60, 90)
    }
    tables = _tables(plan, rng, patients, stays, keep, oracle)
    _apply_coding_changes(c.coding_changes, tables)
    return tables


def _apply_coding_changes(changes: list, tables: dict[str, pd.DataFrame]) -> None:
    """Record each stay's codes as the coding rules in force at its admission have them."""
    encounters, diagnoses = tables["encounters"], tables["diagnoses"]
    for change in changes:
        since = encounters["admitted_at"] >= pd.Timestamp(change.from_date)
        principal = since & encounters["primary_dx_code"].str.startswith(change.prefix)
        encounters.loc[principal, "primary_dx_code"] = change.code
        recorded_since = diagnoses["encounter_id"].isin(encounters.loc[since, "encounter_id"])
        secondary = recorded_since & diagnoses["code"].str.startswith(change.prefix)
        diagnoses.loc[secondary, "code"] = change.code


def _concatenate(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    stays: dict[str, np.ndarray] = {}
    for key in batches[0]:
        if key == "states":
            width = max(b["states"].shape[1] for b in batches)
            stays[key] = np.concatenate(
                [np.pad(b["states"], ((0, 0), (0, width - b["states"].shape[1]))) for b in batches]
            )
        elif key in ("lab_rows",):
            offsets = np.cumsum([0] + [len(b["patient"]) for b in batches[:-1]])
            stays[key] = {
                field: np.concatenate(
                    [
                        b[key][field] + (o if field == "stay" else 0)
                        for b, o in zip(batches, offsets, strict=True)
                    ]
                )
                for field in batches[0][key]
            }
        else:
            stays[key] = np.concatenate([b[key] for b in batches])
    return stays


def _at(plan: WorldPlan, hours: np.ndarray) -> np.ndarray:
    """Timestamps (whole seconds) from hours since the span start."""
    return plan.start + np.round(np.asarray(hours, dtype=float) * 3600.0).astype("timedelta64[s]")


def _tables(
    plan: WorldPlan,
    rng: np.random.Generator,
    patients: Patients,
    stays: dict[str, np.ndarray],
    keep: np.ndarray,
    readmission_oracle: dict[str, np.ndarray],
) -> dict[str, pd.DataFrame]:
    c = plan.config
    kept = np.flatnonzero(keep)
    kept = kept[np.lexsort((stays["admit_h"][kept], stays["patient"][kept]))]
    patient = stays["patient"][kept]
    first_of_patient = np.r_[True, patient[1:] != patient[:-1]]
    sequence = np.arange(len(kept)) - np.maximum.accumulate(
        np.where(first_of_patient, np.arange(len(kept)), 0)
    )
    encounter_id = patients.index[patient] * 1000 + sequence + 1
    s = {key: value[kept] for key, value in stays.items() if key != "lab_rows"}
    admit_h, los_h = s["admit_h"], s["los_h"]

    groups = np.array(c.diagnoses, dtype=object)[s["group"]]
    primary_dx = np.array(
        [
            g.codes[i % len(g.codes)]
            for g, i in zip(groups, rng.integers(0, 1 << 30, len(kept)), strict=True)
        ],
        dtype=object,
    )
    ed_visits, ed_wait_h = _ed_visits(plan, rng, patients, s, encounter_id)
    tables = {
        "patients": patients.table,
        "ed_visits": ed_visits,
        "vitals": None,
        "labs": _labs_table(plan, stays["lab_rows"], kept, encounter_id, admit_h),
        "diagnoses": _diagnoses_table(plan, rng, patients, s, encounter_id, primary_dx),
        "procedures": _procedures_table(plan, rng, s, encounter_id),
    }
    tables["vitals"], tables["oracle_vitals"] = _vitals_tables(plan, rng, patients, s, encounter_id)

    sat = c.satisfaction
    facility_shift = np.array([f.satisfaction_shift for f in c.facilities])[s["facility"]]
    score = (
        sat.baseline
        + sat.log_los_days * np.log(los_h / HOURS_PER_DAY)
        + sat.complication * s["complication"]
        + sat.long_ed_wait * (ed_wait_h > 2.0)
        + facility_shift
        + rng.normal(0.0, sat.noise_sd, len(kept))
    )
    responded = ~s["died"] & (rng.random(len(kept)) < sat.response_rate)
    satisfaction = pd.array(
        np.where(responded, np.clip(np.round(score), 0, 10), np.nan), dtype="Int8"
    )
    tables["encounters"] = pd.DataFrame(
        {
            "encounter_id": encounter_id,
            "patient_id": patients.index[patient],
            "facility_id": s["facility"] + 1,
            "admitted_at": _at(plan, admit_h),
            "discharged_at": _at(plan, admit_h + los_h),
            "admission_type": s["admission_type"],
            "admission_source": s["source"],
            "unit": s["unit"],
            "primary_dx_code": primary_dx,
            "discharge_disposition": s["disposition"],
            "icu_days": np.round(s["icu_days"], 2),
            "deterioration_event": s["event_type"],
            "deterioration_at": pd.array(
                np.where(
                    pd.notna(s["event_type"]),
                    _at(plan, admit_h + np.nan_to_num(s["event_h"])),
                    np.datetime64("NaT"),
                ),
                dtype="datetime64[s]",
            ),
            "treatment_protocol": s["protocol"],
            "treatment_success": s["success"],
            "complication": s["complication"],
            "total_cost_usd": np.round(s["cost_usd"], 2),
            "satisfaction_score": satisfaction,
        }
    )
    tables["diagnoses"]["position"] = (
        tables["diagnoses"].groupby("encounter_id").cumcount().astype(np.int16) + 1
    )
    tables["oracle_encounters"] = pd.DataFrame(
        {
            "encounter_id": encounter_id,
            **{name: values[kept] for name, values in readmission_oracle.items()},
            "expected_los_days": s["expected_los"],
            "expected_icu_days": s["expected_icu"],
            "expected_cost_usd": s["expected_cost"],
            "p_in_hospital_death": s["p_death"],
            "p_treatment_success": s["p_success"],
            "p_complication": s["p_complication"],
            "initial_severity_state": s["start_state"].astype(np.int8),
            "deterioration_group": s["det_group"].astype(np.int8),
        }
    )
    tables["oracle_patients"] = pd.DataFrame(
        {
            "patient_id": patients.index,
            "frailty": patients.frailty,
            "charlson_true": patients.charlson.astype(np.int16),
            "unplanned_admissions_per_year": patients.unplanned_rate,
            "ed_visits_per_year": patients.ed_rate,
        }
    )
    span_h = plan.span_days * HOURS_PER_DAY
    in_span = np.clip(admit_h + los_h, 0, span_h) - np.clip(admit_h, 0, span_h)
    n_facilities = len(c.facilities)
    tables["capacity"] = pd.DataFrame(
        {
            "facility_id": np.arange(1, n_facilities + 1),
            "bed_days": np.bincount(s["facility"], in_span / HOURS_PER_DAY, n_facilities),
            "icu_days": np.bincount(s["facility"], s["icu_days"] * in_span / los_h, n_facilities),
        }
    )
    return tables


def _vitals_tables(
    plan: WorldPlan,
    rng: np.random.Generator,
    patients: Patients,
    s: dict[str, np.ndarray],
    encounter_id: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Vitals every interval of each stay, and the oracle's deterioration risk at each one."""
    c, v, step = plan.config, plan.config.vitals, plan.step_hours
    n_obs = s["n_obs"]
    stay = np.repeat(np.arange(len(n_obs)), n_obs)
    k = np.arange(len(stay)) - np.repeat(np.cumsum(n_obs) - n_obs, n_obs)
    observed_h = s["admit_h"][stay] + k * step + rng.random(len(stay)) * severity.STEP_LEAD_HOURS
    state = s["states"][stay, k].astype(np.int64)
    rows = len(stay)
    latent = state + rng.normal(0.0, v.latent_noise_sd, rows)

    def sign(spec, shift=0.0) -> np.ndarray:
        return (
            shift + spec.baseline + spec.per_state * latent + rng.normal(0.0, spec.noise_sd, rows)
        )

    copd = (
        patients.comorbid[s["patient"], plan.comorbidity_names.index("copd")][stay]
        if "copd" in plan.comorbidity_names
        else np.zeros(rows, bool)
    )
    untreated_spo2 = sign(v.spo2, v.copd_spo2_shift * copd)
    on_oxygen = untreated_spo2 < v.oxygen_spo2_threshold
    spo2 = untreated_spo2 + v.oxygen_spo2_gain * on_oxygen
    infection = plan.groups["infection"][s["group"]][stay]
    temperature = sign(v.temperature_c, v.fever_per_state * np.maximum(latent, 0.0) * infection)
    not_alert = rng.random(rows) < _sigmoid(v.confusion_intercept + v.confusion_per_state * latent)
    consciousness = np.where(
        not_alert,
        ACVPU_NOT_ALERT[_choice(rng, np.broadcast_to(ACVPU_NOT_ALERT_SHARE, (rows, 4)))],
        "A",
    )

    def clip(values: np.ndarray, spec, decimals: int = 0) -> np.ndarray:
        return np.round(np.clip(values, spec.minimum, spec.maximum), decimals)

    vitals = pd.DataFrame(
        {
            "observation_id": encounter_id[stay] * 1000 + k,
            "encounter_id": encounter_id[stay],
            "observed_at": _at(plan, observed_h),
            "heart_rate": clip(sign(v.heart_rate), v.heart_rate).astype(np.int16),
            "respiratory_rate": clip(sign(v.respiratory_rate), v.respiratory_rate).astype(np.int16),
            "spo2": clip(spo2, v.spo2).astype(np.int16),
            "on_oxygen": on_oxygen,
            "temperature_c": clip(temperature, v.temperature_c, 1).astype(np.float32),
            "systolic_bp": clip(sign(v.systolic_bp), v.systolic_bp).astype(np.int16),
            "consciousness": consciousness.astype(object),
        }
    )
    window = DETERIORATION_WINDOW_HOURS // c.vitals_interval_hours
    before_event = (s["event_step"][stay] < 0) | (k <= s["event_step"][stay])
    remaining = s["n_steps"][stay] - k
    risk = severity.event_within(
        plan.chain, s["det_group"][stay], state, np.minimum(window, remaining)
    )
    oracle = pd.DataFrame(
        {
            "observation_id": vitals["observation_id"].to_numpy(),
            "encounter_id": vitals["encounter_id"].to_numpy(),
            "observed_at": vitals["observed_at"].to_numpy(),
            "severity_state": state.astype(np.int8),
            "p_deterioration_24h": np.where(before_event, risk, np.nan),
        }
    )
    return vitals, oracle


def _labs_table(
    plan: WorldPlan,
    rows: dict[str, np.ndarray],
    kept: np.ndarray,
    encounter_id: np.ndarray,
    admit_h: np.ndarray,
) -> pd.DataFrame:
    position = np.full(int(rows["stay"].max()) + 1 if len(rows["stay"]) else 0, -1)
    position[kept] = np.arange(len(kept))
    mine = position[rows["stay"]] >= 0
    stay = position[rows["stay"][mine]]
    frames = []
    for t, (test, (unit, loinc)) in enumerate(LAB_TESTS.items()):
        values = rows[test][mine]
        present = ~np.isnan(values)
        ordinal = rows["ordinal"][mine][present]
        frames.append(
            pd.DataFrame(
                {
                    "lab_id": encounter_id[stay[present]] * 1000 + ordinal * len(LAB_TESTS) + t,
                    "encounter_id": encounter_id[stay[present]],
                    "drawn_at": _at(plan, admit_h[stay[present]] + rows["drawn_h"][mine][present]),
                    "test": test,
                    "loinc": loinc,
                    "value": np.round(values[present], 2).astype(np.float32),
                    "unit": unit,
                }
            )
        )
    return pd.concat(frames, ignore_index=True).sort_values(
        "lab_id", kind="stable", ignore_index=True
    )


def _diagnoses_table(
    plan: WorldPlan,
    rng: np.random.Generator,
    patients: Patients,
    s: dict[str, np.ndarray],
    encounter_id: np.ndarray,
    primary_dx: np.ndarray,
) -> pd.DataFrame:
    """Principal diagnosis, coded chronic conditions and acute secondary diagnoses of each stay."""
    c = plan.config
    n = len(encounter_id)
    stay_parts, code_parts, poa_parts = [np.arange(n)], [primary_dx], [np.ones(n, bool)]
    comorbid = patients.comorbid[s["patient"]]
    coded = comorbid & (rng.random(comorbid.shape) < c.population.comorbidity_coding_rate)
    stay, condition = np.nonzero(coded)
    pick = patients.code_choice[s["patient"][stay], condition]
    codes = [c.comorbidities[j].codes for j in range(len(c.comorbidities))]
    stay_parts.append(stay)
    code_parts.append(
        np.array(
            [codes[j][p % len(codes[j])] for j, p in zip(condition, pick, strict=True)],
            dtype=object,
        )
    )
    poa_parts.append(np.ones(len(stay), bool))
    hb, na, creatinine = (s["admission_labs"][:, i] for i in range(3))
    ckd = (
        comorbid[:, plan.comorbidity_names.index("ckd")]
        if "ckd" in plan.comorbidity_names
        else np.zeros(n, bool)
    )
    acute = [
        (HYPONATRAEMIA_CODE, (na < 133.0) & (rng.random(n) < 0.7), True),
        (ANAEMIA_CODE, (hb < 10.0) & (rng.random(n) < 0.6), True),
        (AKI_CODE, (creatinine > 2.0) & ~ckd & (rng.random(n) < 0.5), True),
        (COMPLICATION_CODE, s["complication"], False),
    ]
    for code, present, poa in acute:
        stay_parts.append(np.flatnonzero(present))
        code_parts.append(np.full(int(present.sum()), code, dtype=object))
        poa_parts.append(np.full(int(present.sum()), poa))
    stay = np.concatenate(stay_parts)
    frame = pd.DataFrame(
        {
            "encounter_id": encounter_id[stay],
            "code": np.concatenate(code_parts),
            "present_on_admission": np.concatenate(poa_parts),
        }
    )
    frame = frame.sort_values("encounter_id", kind="stable").drop_duplicates(
        ["encounter_id", "code"]
    )
    return frame.reset_index(drop=True)[["encounter_id", "code", "present_on_admission"]]


def _procedures_table(
    plan: WorldPlan, rng: np.random.Generator, s: dict[str, np.ndarray], encounter_id: np.ndarray
) -> pd.DataFrame:
    done = np.flatnonzero(s["procedure_slot"] > 0)
    group, slot = s["group"][done], s["procedure_slot"][done]
    performed_h = s["admit_h"][done] + rng.uniform(0.05, 0.5, len(done)) * np.minimum(
        s["los_h"][done], 48.0
    )
    return pd.DataFrame(
        {
            "procedure_id": encounter_id[done] * 10 + 1,
            "encounter_id": encounter_id[done],
            "code": plan.groups["procedure_code"][group, slot],
            "description": plan.groups["procedure_description"][group, slot],
            "performed_at": _at(plan, performed_h),
        }
    )


def _ed_visits(
    plan: WorldPlan,
    rng: np.random.Generator,
    patients: Patients,
    s: dict[str, np.ndarray],
    encounter_id: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray]:
    """ED visits that led to these admissions and visits that did not; each stay's ED wait (h)."""
    c, ed = plan.config, plan.config.emergency_department
    admitted = np.flatnonzero(s["source"] == "emergency_department")
    years = plan.span_days / 365.25
    walk_in = np.repeat(np.arange(len(patients.index)), rng.poisson(patients.ed_rate * years))
    day = rng.integers(0, plan.span_days, len(walk_in))
    hour = _choice(
        rng, np.broadcast_to(ARRIVAL_BY_HOUR / ARRIVAL_BY_HOUR.sum(), (len(walk_in), 24))
    )
    walk_in_h = day * HOURS_PER_DAY + hour + rng.random(len(walk_in))

    admit_h = s["admit_h"][admitted]
    # Work-up and boarding take at least an hour between ED arrival and the inpatient bed.
    boarding_h = np.maximum(1.0, rng.lognormal(np.log(ed.admit_median_hours), 0.45, len(admitted)))
    arrival_h = np.concatenate([admit_h - boarding_h, walk_in_h])
    patient = np.concatenate([s["patient"][admitted], walk_in])
    is_admitted = np.arange(len(patient)) < len(admitted)
    academic = next(i for i, f in enumerate(c.facilities) if f.type == "academic")
    home = rng.random(len(walk_in)) < c.utilisation.home_facility_share
    walk_in_facility = np.where(home, patients.home_facility[walk_in], academic)
    facility = np.concatenate([s["facility"][admitted], walk_in_facility])
    # Triage level: the sicker the admitted patient, the more urgent; walk-ins mostly ESI 3-4.
    admitted_esi = np.round(
        3.2 - 0.8 * s["start_state"][admitted] + rng.normal(0, 0.6, len(admitted))
    )
    walk_in_esi = 1 + _choice(rng, np.broadcast_to(WALK_IN_ESI_SHARE, (len(walk_in), 5)))
    esi = np.clip(np.concatenate([admitted_esi, walk_in_esi]), 1, 5).astype(np.int64)

    month = (_at(plan, arrival_h).astype("datetime64[M]").astype(np.int64) % 12) + 1
    winter = np.isin(month, (12, 1, 2))
    wait_median = (
        np.asarray(ed.wait_median_minutes_by_esi)[esi - 1]
        * np.array([f.ed_wait_multiplier for f in c.facilities])[facility]
    )
    wait_h = (
        rng.lognormal(np.log(wait_median), ed.wait_sigma)
        * np.where(winter, ed.winter_wait_multiplier, 1.0)
        / 60.0
    )
    triage_h = arrival_h + rng.lognormal(np.log(ed.triage_median_minutes), 0.5, len(patient)) / 60.0
    patience_h = (
        ed.patience_min_minutes + rng.exponential(ed.patience_mean_minutes, len(patient))
    ) / 60.0
    left = ~is_admitted & (esi >= 3) & (wait_h > patience_h)
    provider_h = triage_h + wait_h
    departure_h = np.where(
        is_admitted,
        np.concatenate([admit_h, np.zeros(len(walk_in))]),
        np.where(
            left,
            triage_h + patience_h,
            provider_h + rng.lognormal(np.log(ed.treatment_median_hours), 0.5, len(patient)),
        ),
    )
    # Admitted patients are seen before they go upstairs, however long the queue.
    provider_h = np.where(is_admitted, np.minimum(provider_h, departure_h - 0.25), provider_h)
    triage_h = np.minimum(triage_h, provider_h)

    # Drop walk-in visits that fall inside a stay or after the patient's death.
    stays = pd.DataFrame(
        {
            "patient": s["patient"],
            "start": s["admit_h"] - 12.0,
            "end": s["discharge_h"],
            "died": s["died"],
        }
    )
    visits = pd.DataFrame(
        {"patient": walk_in, "arrival": walk_in_h, "row": np.arange(len(walk_in))}
    )
    pairs = visits.merge(stays, on="patient")
    clash = (pairs["arrival"] >= pairs["start"]) & (
        (pairs["arrival"] <= pairs["end"]) | pairs["died"]
    )
    dropped = np.zeros(len(walk_in), bool)
    dropped[pairs.loc[clash, "row"].to_numpy()] = True
    valid = np.concatenate([np.ones(len(admitted), bool), ~dropped])

    frame = pd.DataFrame(
        {
            "patient_id": patients.index[patient],
            "facility_id": facility + 1,
            "arrival_at": _at(plan, arrival_h),
            "triage_at": _at(plan, triage_h),
            "provider_at": pd.array(
                np.where(left, np.datetime64("NaT"), _at(plan, provider_h)), dtype="datetime64[s]"
            ),
            "departure_at": _at(plan, departure_h),
            "esi_level": esi.astype(np.int8),
            "disposition": np.where(
                is_admitted, "admitted", np.where(left, "left_without_being_seen", "discharged")
            ).astype(object),
            "encounter_id": pd.array(
                np.concatenate([encounter_id[admitted], np.zeros(len(walk_in), np.int64)]),
                dtype="Int64",
            ),
        }
    )[valid]
    frame.loc[frame["disposition"] != "admitted", "encounter_id"] = pd.NA
    frame = frame.sort_values(["patient_id", "arrival_at"], kind="stable", ignore_index=True)
    sequence = frame.groupby("patient_id").cumcount().to_numpy()
    frame.insert(0, "ed_visit_id", frame["patient_id"].to_numpy() * 1000 + sequence + 1)
    stay_wait = np.zeros(len(encounter_id))
    stay_wait[admitted] = (provider_h - arrival_h)[: len(admitted)]
    return frame, stay_wait
