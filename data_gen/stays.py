"""What happens to a block's patients in hospital, step by step.

``simulate_block`` draws, from the block's own seed, its patients (``data_gen.world``), their
index admissions, the course of every stay (arrival, acuity, treatment, procedure, the planned
stay, the latent severity chain and its events, labs, destination, readmission risk, outcome and
the oracle's expectations, each a named step passing a typed record), and generation after
generation of the readmissions those stays cause; then which stays happen on each patient's
timeline. The equations are documented in docs/world.md.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from configs.data_gen import DataGenConfig
from configs.vocabulary import DISPOSITIONS, EXPIRED, PROTOCOLS
from data_gen import medications, operations, severity
from data_gen.severity import EVENT_TYPES
from data_gen.world import (
    HOURS_PER_DAY,
    LAB_TESTS,
    Patients,
    WorldPlan,
    academic_facility,
    choose,
    decades_over_65,
    draw_patients,
    hour_weights,
    lookup,
    sigmoid,
)

# --------------------------------------------------------------------------------------------
# Admissions and the clinical course of each stay, step by step


@dataclass(frozen=True)
class Batch:
    """Admissions to simulate: the patient (row in the block), the principal-diagnosis group, the
    time (hours from the span start), and the stay that caused each (-1: none)."""

    patient: np.ndarray
    group: np.ndarray
    admit_h: np.ndarray
    parent: np.ndarray


def _admission_hours(plan: WorldPlan, rng: np.random.Generator, group: np.ndarray) -> np.ndarray:
    """Admission times (hours from the span start) from each group's seasonal calendar."""
    use = plan.config.utilisation
    u = rng.random(len(group))
    day = np.zeros(len(group))
    for g in np.unique(group):
        mine = group == g
        day[mine] = np.searchsorted(plan.calendar_cdf[g], u[mine], side="right") - 1
    unplanned_hour = choose(rng, hour_weights(plan, len(group))) + rng.random(len(group))
    first, last = use.elective_arrival_hours
    elective_hour = first + (last - first) * rng.random(len(group))
    hour = np.where(plan.groups["elective"][group], elective_hour, unplanned_hour)
    return day * HOURS_PER_DAY + hour


def _index_admissions(plan: WorldPlan, rng: np.random.Generator, patients: Patients) -> Batch:
    years = plan.span_days / 365.25
    n = len(patients.index)
    unplanned = np.repeat(np.arange(n), rng.poisson(patients.unplanned_rate * years))
    elective = np.repeat(np.arange(n), rng.poisson(patients.elective_rate * years))
    unplanned_group = plan.unplanned_groups[choose(rng, patients.dx_probabilities[unplanned])]
    shares = np.array([plan.config.diagnoses[g].share for g in plan.elective_groups])
    elective_group = plan.elective_groups[
        choose(rng, np.broadcast_to(shares, (len(elective), len(shares))))
    ]
    group = np.concatenate([unplanned_group, elective_group])
    return Batch(
        patient=np.concatenate([unplanned, elective]),
        group=group,
        admit_h=_admission_hours(plan, rng, group),
        parent=np.full(len(group), -1),
    )


@dataclass(frozen=True)
class Arrival:
    """Who arrives, how and where."""

    decades: np.ndarray  # of age over 65
    charlson: np.ndarray
    frailty: np.ndarray
    comorbid: np.ndarray  # [stay, comorbidity]
    emergent: np.ndarray  # unplanned (emergency or urgent)
    facility: np.ndarray  # 0-based facility index
    admission_type: np.ndarray
    source: np.ndarray


def _arrive(plan: WorldPlan, rng: np.random.Generator, patients: Patients, batch: Batch) -> Arrival:
    c, n, patient = plan.config, len(batch.patient), batch.patient
    age = patients.age[patient] + batch.admit_h / (HOURS_PER_DAY * 365.25)
    elective = plan.groups["elective"][batch.group]
    urgent = ~elective & (rng.random(n) < c.utilisation.urgent_share)
    academic = academic_facility(c)
    facility = np.where(
        rng.random(n) < c.utilisation.home_facility_share, patients.home_facility[patient], academic
    )
    admission_type = np.where(elective, "elective", np.where(urgent, "urgent", "emergency"))
    referred = rng.random(n) < 1.0 - c.utilisation.urgent_transfer_share
    source = np.where(
        elective,
        "physician_referral",
        np.where(
            urgent,
            np.where(referred, "physician_referral", "transfer"),
            "emergency_department",
        ),
    )
    return Arrival(
        decades=decades_over_65(age),
        charlson=patients.charlson[patient],
        frailty=patients.frailty[patient],
        comorbid=patients.comorbid[patient],
        emergent=~elective,
        facility=facility,
        admission_type=admission_type.astype(object),
        source=source.astype(object),
    )


@dataclass(frozen=True)
class Acuity:
    """The latent severity at admission and the stay's deterioration propensity."""

    start_state: np.ndarray  # 0 stable .. 4 critical
    det_group: np.ndarray  # 0 low .. 2 high propensity
    direct_icu: np.ndarray
    unit: np.ndarray


def _assess(plan: WorldPlan, rng: np.random.Generator, group: np.ndarray, a: Arrival) -> Acuity:
    sev, n = plan.config.severity, len(group)
    acuity = (
        plan.groups["acuity"][group]
        + sev.acuity_age_per_decade * a.decades
        + sev.acuity_charlson * a.charlson
        + sev.acuity_frailty * a.frailty
        + rng.normal(0.0, sev.acuity_noise_sd, n)
    )
    start_state = np.searchsorted(sev.state_thresholds, acuity, side="right")
    propensity = (
        plan.groups["deterioration"][group]
        + sev.group_age_per_decade * a.decades
        + sev.group_charlson * a.charlson
        + sev.group_frailty * a.frailty
        + rng.normal(0.0, sev.group_noise_sd, n)
    )
    direct_icu = rng.random(n) < np.asarray(sev.direct_icu_probability)[start_state]
    return Acuity(
        start_state=start_state,
        det_group=np.searchsorted(sev.group_thresholds, propensity, side="right"),
        direct_icu=direct_icu,
        unit=np.where(direct_icu, "icu", plan.groups["unit"][group]).astype(object),
    )


@dataclass(frozen=True)
class Treatment:
    """The stay's lab baselines, the admission lactate and the protocol it steered (confounding)."""

    lab_base: np.ndarray  # [stay, lab test]
    admission_lactate: np.ndarray
    protocol: np.ndarray
    effect_log_odds: np.ndarray  # the protocol's true effect on success
    los_multiplier: np.ndarray
    cost_multiplier: np.ndarray


def _treat(
    plan: WorldPlan,
    rng: np.random.Generator,
    patients: Patients,
    batch: Batch,
    a: Arrival,
    acuity: Acuity,
) -> Treatment:
    c, treat, n = plan.config, plan.config.treatment, len(batch.group)
    lab_base = np.array([getattr(c.labs, t).baseline for t in LAB_TESTS])
    lab_base = (
        lab_base
        + plan.groups["lab_shifts"][batch.group]
        + a.comorbid.astype(float) @ plan.comorbidity_lab_shifts
    )
    female = patients.female[batch.patient]
    lab_base[:, 0] += np.where(female, c.labs.female_haemoglobin_shift, 0.0)
    lactate = _lab_values(c, "lactate", lab_base[:, 4], acuity.start_state, rng)
    logits = np.stack(
        [
            np.zeros(n),
            treat.enhanced_intercept
            + treat.enhanced_lactate * (lactate - 1.0)
            + treat.enhanced_emergent * a.emergent,
            treat.conservative_intercept + treat.conservative_age_per_decade * a.decades,
        ],
        axis=1,
    )
    protocol = np.array(PROTOCOLS, dtype=object)[choose(rng, np.exp(logits))]

    def of_protocol(field: str) -> np.ndarray:
        return lookup(protocol, {k: getattr(v, field) for k, v in treat.protocols.items()})

    return Treatment(
        lab_base=lab_base,
        admission_lactate=lactate,
        protocol=protocol,
        effect_log_odds=of_protocol("true_effect_log_odds"),
        los_multiplier=of_protocol("los_multiplier"),
        cost_multiplier=of_protocol("cost_multiplier"),
    )


@dataclass(frozen=True)
class Procedure:
    """At most one procedure per stay (slot 0: none) and whether a complication followed."""

    slot: np.ndarray
    complication: np.ndarray
    p_complication: np.ndarray  # over the procedure that might have been done


def _operate(
    plan: WorldPlan, rng: np.random.Generator, group: np.ndarray, a: Arrival, acuity: Acuity
) -> Procedure:
    comp, G = plan.config.complication, plan.groups
    slot = choose(rng, G["procedure_probability"][group])
    base = (
        comp.intercept
        + comp.age_per_decade * a.decades
        + comp.charlson * a.charlson
        + comp.severity_state * acuity.start_state
    )
    complication = rng.random(len(group)) < sigmoid(base + G["procedure_log_odds"][group, slot])
    p_complication = (
        G["procedure_probability"][group] * sigmoid(base[:, None] + G["procedure_log_odds"][group])
    ).sum(axis=1)
    return Procedure(slot, complication, p_complication)


@dataclass(frozen=True)
class PlannedStay:
    """The length of stay planned at admission (a death may cut it short)."""

    log_mean: np.ndarray  # of the planned days, before the complication's effect and the noise
    days: np.ndarray
    steps: np.ndarray  # vitals intervals in the planned stay


def _plan_stay(
    plan: WorldPlan,
    rng: np.random.Generator,
    group: np.ndarray,
    a: Arrival,
    acuity: Acuity,
    treatment: Treatment,
    procedure: Procedure,
) -> PlannedStay:
    c, los = plan.config, plan.config.length_of_stay
    facility_los = np.array([f.los_multiplier for f in c.facilities])[a.facility]
    log_mean = (
        np.log(plan.groups["los_days"][group])
        - los.sigma**2 / 2
        + los.intercept
        + los.age_per_decade * a.decades
        + los.charlson * a.charlson
        + los.severity_state * acuity.start_state
        + los.deterioration_group * acuity.det_group
        + np.log(facility_los)
        + np.log(treatment.los_multiplier)
    )
    noise = rng.normal(0.0, los.sigma, len(group))
    days = np.clip(
        np.exp(log_mean + los.complication * procedure.complication + noise),
        los.min_hours / HOURS_PER_DAY,
        los.max_days,
    )
    steps = severity.steps_in_stay(days * HOURS_PER_DAY, plan.step_hours, plan.chain.max_steps)
    return PlannedStay(log_mean, days, steps)


@dataclass(frozen=True)
class Course:
    """The latent severity chain through the stay, its first event, and the stay it makes."""

    states: np.ndarray  # [stay, step]
    event_step: np.ndarray  # -1: no event
    event_type: np.ndarray  # None, or one of severity.EVENT_TYPES
    event_h: np.ndarray  # hours from admission, NaN without an event
    died: np.ndarray
    los_h: np.ndarray
    n_obs: np.ndarray  # vitals observations recorded
    icu_days: np.ndarray
    icu_until_h: np.ndarray  # a direct ICU admission's planned hours in ICU (0 for the others)

    @property
    def los_days(self) -> np.ndarray:
        return self.los_h / HOURS_PER_DAY


def _run_course(
    plan: WorldPlan,
    rng: np.random.Generator,
    group: np.ndarray,
    a: Arrival,
    admit_h: np.ndarray,
    acuity: Acuity,
    planned: PlannedStay,
    harm: medications.Harm,
    delayed: np.ndarray,
) -> Course:
    """One chain step per vitals interval; the first event ends the chain's say over the stay
    (a death ends the stay itself); ICU days follow a direct admission or a transfer. In the
    second pass, each step's patients per nurse above the safe ratio raise the odds of an event
    and of its being a death (``operations.staffed_risk``). An adverse drug event that is a
    deterioration event is the stay's event in its step, unless the chain's came first. A stay
    whose antibiotics were ``delayed`` worsens more often at the end of its first step."""
    sev, step = plan.config.severity, plan.step_hours
    n, width = len(planned.days), int(planned.steps.max(initial=1))
    planned_h = planned.days * HOURS_PER_DAY
    direct_share = np.where(acuity.direct_icu, rng.uniform(*sev.direct_icu_fraction, n), 0.0)
    icu_until_h = direct_share * planned_h
    ward_unit = plan.groups["unit_index"][group]
    states = np.zeros((n, width), dtype=np.int8)
    state = acuity.start_state.astype(np.int64)
    event_step = np.full(n, -1)
    event_excess = np.zeros(n)
    up = np.asarray(sev.up_probability)[acuity.det_group]
    down = np.asarray(sev.down_probability)[acuity.det_group]
    up_first = up + plan.config.medications.antibiotic_timing.late_up_probability * delayed
    forced = harm.deterioration_step
    for j in range(width):
        states[:, j] = state
        excess = operations.exposure(plan, a.facility, ward_unit, icu_until_h, admit_h, j)
        hazard, _ = operations.staffed_risk(plan, state, excess)
        event = (event_step < 0) & (j < planned.steps) & ((rng.random(n) < hazard) | (forced == j))
        event_step[event] = j
        event_excess[event] = excess[event]
        move, p_up = rng.random(n), up_first if j == 0 else up
        state = (
            state
            + ((move < p_up) & (state < 4))
            - ((move >= p_up) & (move < p_up + down) & (state > 0))
        )
    has_event = event_step >= 0
    event_state = states[np.arange(n), np.maximum(event_step, 0)]
    _, type_share = operations.staffed_risk(plan, event_state, event_excess)
    event_type = np.array(EVENT_TYPES, dtype=object)[choose(rng, type_share)]
    by_drug = has_event & (event_step == forced)
    event_type = np.where(by_drug, harm.event_type, np.where(has_event, event_type, None))
    event_type = np.where(
        acuity.direct_icu & (event_type == "icu_transfer"), "rapid_response", event_type
    )
    lower = event_step * step + severity.STEP_LEAD_HOURS
    upper = np.minimum((event_step + 1) * step, planned_h)
    event_h = np.where(has_event, lower + rng.random(n) * (upper - lower), np.nan)
    died = event_type == "death"
    los_h = np.where(died, event_h, planned_h)
    transfer_days = np.minimum(
        rng.exponential(sev.icu_transfer_mean_days, n),
        (los_h - np.nan_to_num(event_h)) / HOURS_PER_DAY,
    )
    icu_days = np.where(
        acuity.direct_icu,
        np.minimum(icu_until_h, los_h) / HOURS_PER_DAY,
        np.where(event_type == "icu_transfer", transfer_days, 0.0),
    )
    return Course(
        states=states,
        event_step=event_step,
        event_type=event_type,
        event_h=event_h,
        died=died,
        los_h=los_h,
        n_obs=np.where(died, event_step + 1, planned.steps),
        icu_days=icu_days,
        icu_until_h=icu_until_h,
    )


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


@dataclass(frozen=True)
class LabRows:
    """Every lab draw of a set of stays: the stay (its row), hours from admission, the draw's
    ordinal in the stay, and each test's value (NaN where not measured)."""

    stay: np.ndarray
    drawn_h: np.ndarray
    ordinal: np.ndarray
    values: dict[str, np.ndarray]

    @classmethod
    def concatenate(cls, parts: list[LabRows], stays: list[int]) -> LabRows:
        """The rows of consecutive sets of stays (``stays``: how many each set has)."""
        offsets = np.cumsum([0, *stays[:-1]])
        return cls(
            stay=np.concatenate([p.stay + o for p, o in zip(parts, offsets, strict=True)]),
            drawn_h=np.concatenate([p.drawn_h for p in parts]),
            ordinal=np.concatenate([p.ordinal for p in parts]),
            values={t: np.concatenate([p.values[t] for p in parts]) for t in parts[0].values},
        )


@dataclass(frozen=True)
class Labs:
    rows: LabRows
    admission: np.ndarray  # [stay, lab test]: the first values
    discharge: np.ndarray  # [stay, lab test]: the last values
    discharge_if_alive: np.ndarray  # [stay, lab test]: the last values of the planned stay


def _draw_labs(
    plan: WorldPlan,
    rng: np.random.Generator,
    treatment: Treatment,
    planned: PlannedStay,
    course: Course,
) -> Labs:
    """Labs at admission, then daily; the last draw is the discharge value. Lactate is measured
    once, at admission, with the value that also guided the protocol choice. The draws are made
    for the planned stay, so that a death (which keeps only the draws before it) never shifts the
    random numbers of the stays drawn after."""
    planned_rows = _lab_draws(plan, planned.days * HOURS_PER_DAY)
    stay, drawn_h, ordinal = planned_rows
    step = np.minimum((drawn_h // plan.step_hours).astype(np.int64), planned.steps[stay] - 1)
    state = course.states[stay, step]
    values = {}
    for t, test in enumerate(list(LAB_TESTS)[:-1]):
        values[test] = _lab_values(plan.config, test, treatment.lab_base[stay, t], state, rng)
    values["lactate"] = np.where(ordinal == 0, treatment.admission_lactate[stay], np.nan)
    matrix = np.stack([values[t] for t in LAB_TESTS], axis=1)
    # A death keeps the draws a stay of its length would have had (the first one moved earlier
    # when the stay ends within two hours).
    kept_draws = np.bincount(_lab_draws(plan, course.los_h)[0], minlength=len(course.los_h))
    kept = ordinal < kept_draws[stay]
    first = np.minimum(1.0, course.los_h / 2)[stay]
    drawn_h = np.where(ordinal == 0, np.minimum(drawn_h, first), drawn_h)
    rows = LabRows(
        stay[kept], drawn_h[kept], ordinal[kept], {t: v[kept] for t, v in values.items()}
    )
    return Labs(
        rows,
        admission=matrix[ordinal == 0],
        discharge=matrix[kept & (ordinal == kept_draws[stay] - 1)],
        discharge_if_alive=matrix[np.r_[ordinal[1:] == 0, True][: len(ordinal)]],
    )


def _lab_draws(plan: WorldPlan, los_h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lab draws of stays of these lengths: the stay of each, its hour, its ordinal."""
    interval = plan.config.labs.draw_interval_hours
    first = np.minimum(1.0, los_h / 2)
    draws = 1 + np.maximum(0, np.ceil((los_h - 2.0 - first) / interval) - 1).astype(np.int64)
    stay = np.repeat(np.arange(len(los_h)), draws)
    ordinal = np.arange(len(stay)) - np.repeat(np.cumsum(draws) - draws, draws)
    return stay, first[stay] + interval * ordinal, ordinal


def _disposition(
    plan: WorldPlan, rng: np.random.Generator, a: Arrival, planned: PlannedStay
) -> np.ndarray:
    """Where each patient would go at discharge if alive (a death makes it ``expired``)."""
    disp = plan.config.disposition
    logits = np.stack(
        [
            disp.intercept.get(d, 0.0)
            + disp.age_per_decade.get(d, 0.0) * a.decades
            + disp.log_los_days.get(d, 0.0) * np.log(planned.days)
            + disp.frailty.get(d, 0.0) * a.frailty
            for d in DISPOSITIONS
        ],
        axis=1,
    )
    return np.array(DISPOSITIONS, dtype=object)[choose(rng, np.exp(logits))]


def _related_readmission_risk(
    plan: WorldPlan,
    patients: Patients,
    batch: Batch,
    a: Arrival,
    treatment: Treatment,
    procedure: Procedure,
    planned: PlannedStay,
    labs: Labs,
    disposition: np.ndarray,
    harm: medications.Harm,
) -> np.ndarray:
    """The probability of a related unplanned readmission after the planned stay, discharged
    alive (a death makes it 0; drawing readmissions from this keeps the next generation's random
    numbers the same whoever dies)."""
    readm, G, group = plan.config.readmission, plan.groups, batch.group
    logit = (
        readm.intercept
        + G["readmit_log_odds"][group]
        + readm.age_per_decade * a.decades
        + readm.charlson * np.minimum(a.charlson, readm.charlson_cap)
        + readm.log_los_days * np.log(planned.days)
        + readm.emergent * a.emergent
        + readm.frailty * a.frailty
        + readm.low_haemoglobin * (labs.discharge_if_alive[:, 0] < 12.0)
        + readm.low_sodium * (labs.discharge_if_alive[:, 1] < 135.0)
        + readm.oncology * G["oncology"][group]
        + readm.procedure * (procedure.slot > 0)
        + readm.complication * procedure.complication
        + lookup(patients.payer[batch.patient], readm.payer)
        + lookup(disposition, readm.disposition)
        + lookup(treatment.protocol, readm.protocol)
        + _facility_readmit_log_odds(plan)[a.facility]
        + harm.readmit_log_odds
    )
    return sigmoid(logit)


def _facility_readmit_log_odds(plan: WorldPlan) -> np.ndarray:
    return np.array([f.readmit_log_odds for f in plan.config.facilities])


def _related_at_average_facility(plan: WorldPlan, stays: Stays) -> np.ndarray:
    """P(related readmission) had each stay been at a facility without a readmission term of its
    own: the expected rate that risk-standardised readmission ratios compare with."""
    p = stays.p_related
    with np.errstate(divide="ignore"):
        logit = np.log(p) - np.log1p(-p) - _facility_readmit_log_odds(plan)[stays.facility]
    return np.where(p > 0.0, sigmoid(logit), 0.0)


@dataclass(frozen=True)
class Outcome:
    """Treatment success (in survivors) and the cost of the stay."""

    success_logit: np.ndarray
    success: np.ndarray
    cost_multiplier: np.ndarray  # facility, protocol and the overall scale
    cost_usd: np.ndarray


def _outcome(
    plan: WorldPlan,
    rng: np.random.Generator,
    group: np.ndarray,
    a: Arrival,
    acuity: Acuity,
    treatment: Treatment,
    procedure: Procedure,
    course: Course,
    harm: medications.Harm,
) -> Outcome:
    c, treat, cost, G, n = (
        plan.config, plan.config.treatment, plan.config.cost, plan.groups, len(group)
    )  # fmt: skip
    success_logit = (
        treat.success_intercept
        + G["success_log_odds"][group]
        + treat.success_age_per_decade * a.decades
        + treat.success_charlson * a.charlson
        + treat.success_severity_state * acuity.start_state
        + treatment.effect_log_odds
    )
    success = (rng.random(n) < sigmoid(success_logit)) & ~course.died
    facility_cost = np.array([f.cost_index for f in c.facilities])[a.facility]
    multiplier = cost.scale * facility_cost * treatment.cost_multiplier
    los_days = course.los_days
    bill = (
        G["cost_base_usd"][group]
        + G["procedure_cost_usd"][group, procedure.slot]
        + cost.complication_usd * procedure.complication
        + cost.per_diem_ward_usd * (los_days - course.icu_days)
        + cost.per_diem_icu_usd * course.icu_days
        + np.where(harm.onset_h <= course.los_h, harm.cost_usd, 0.0)  # an event by the end
    )
    noise = np.exp(rng.normal(0.0, cost.sigma, n) - cost.sigma**2 / 2)
    return Outcome(success_logit, success, multiplier, multiplier * bill * noise)


@dataclass(frozen=True)
class Expectations:
    """The oracle at admission: expectations integrating the planned stay, the severity chain
    and the chance of a complication; for the timed infections, the deterioration risk had the
    antibiotics come within the bundle's hours or after them (NaN for the other stays)."""

    los_days: np.ndarray
    icu_days: np.ndarray
    cost_usd: np.ndarray
    p_death: np.ndarray
    p_success: np.ndarray
    p_deterioration_antibiotics_early: np.ndarray
    p_deterioration_antibiotics_late: np.ndarray


def _chain_expectation(
    plan: WorldPlan,
    chain_group: np.ndarray,
    acuity: Acuity,
    procedure: Procedure,
    planned: PlannedStay,
) -> severity.StayExpectation:
    """The chain's expectations over the planned stay, with and without a complication."""
    sev, los = plan.config.severity, plan.config.length_of_stay
    expected = [
        severity.expected_stay(
            plan.chain,
            chain_group,
            acuity.start_state,
            planned.log_mean + los.complication * flag,
            los.sigma,
            los.min_hours / HOURS_PER_DAY,
            los.max_days,
            plan.step_hours / HOURS_PER_DAY,
            sev.icu_transfer_mean_days,
            np.where(acuity.direct_icu, np.mean(sev.direct_icu_fraction), 0.0),
        )
        for flag in (0.0, 1.0)
    ]
    weights = (1.0 - procedure.p_complication, procedure.p_complication)
    return severity.StayExpectation(
        **{
            f.name: sum(w * getattr(e, f.name) for w, e in zip(weights, expected, strict=True))
            for f in fields(severity.StayExpectation)
        }
    )


def _expect(
    plan: WorldPlan,
    group: np.ndarray,
    acuity: Acuity,
    procedure: Procedure,
    planned: PlannedStay,
    outcome: Outcome,
    harm: medications.Harm,
    delayed: np.ndarray,
) -> Expectations:
    cost, G = plan.config.cost, plan.groups
    # The chain under either timing; a stay's own is the one its antibiotics took.
    early, late = (
        _chain_expectation(
            plan, severity.chain_group(acuity.det_group, arm), acuity, procedure, planned
        )
        for arm in (False, True)
    )
    chain = severity.StayExpectation(
        **{
            f.name: np.where(delayed, getattr(late, f.name), getattr(early, f.name))
            for f in fields(severity.StayExpectation)
        }
    )
    # An adverse drug event adds its days and cost; its deaths and deteriorations and the
    # chain's are taken as independent (both are rare).
    expected_los = chain.los_days + harm.expected_extra_days
    p_death = 1.0 - (1.0 - chain.p_death) * (1.0 - harm.p_death)
    expected_cost = outcome.cost_multiplier * (
        G["cost_base_usd"][group]
        + (G["procedure_probability"][group] * G["procedure_cost_usd"][group]).sum(axis=1)
        + cost.complication_usd * procedure.p_complication
        + cost.per_diem_ward_usd * (expected_los - chain.icu_days)
        + cost.per_diem_icu_usd * chain.icu_days
        + harm.expected_cost_usd
    )
    timed = medications.timed(plan, group)
    p_deterioration = {
        arm: np.where(timed, 1.0 - (1.0 - harm.p_deterioration) * (1.0 - expected.p_event), np.nan)
        for arm, expected in (("early", early), ("late", late))
    }
    return Expectations(
        los_days=expected_los,
        icu_days=chain.icu_days,
        cost_usd=expected_cost,
        p_death=p_death,
        p_success=sigmoid(outcome.success_logit) * (1.0 - p_death),
        p_deterioration_antibiotics_early=p_deterioration["early"],
        p_deterioration_antibiotics_late=p_deterioration["late"],
    )


@dataclass(frozen=True)
class Medicines:
    """A block's medication stream and its patients' home medicines ([patient, drug])."""

    rng: np.random.Generator
    home: np.ndarray


@dataclass(frozen=True)
class Stays:
    """Every stay of a block as simulated, one value per stay in each array (``states``: one row
    per stay; ``lab_rows`` and ``orders``: the lab draws and medication orders, by row of this
    record)."""

    patient: np.ndarray
    group: np.ndarray
    admit_h: np.ndarray
    parent: np.ndarray
    facility: np.ndarray
    admission_type: np.ndarray
    source: np.ndarray
    unit: np.ndarray
    start_state: np.ndarray
    det_group: np.ndarray
    protocol: np.ndarray
    procedure_slot: np.ndarray
    complication: np.ndarray
    n_steps: np.ndarray
    n_obs: np.ndarray
    states: np.ndarray
    event_step: np.ndarray
    event_type: np.ndarray
    event_h: np.ndarray
    died: np.ndarray
    los_h: np.ndarray
    planned_h: np.ndarray
    icu_days: np.ndarray
    icu_until_h: np.ndarray
    disposition: np.ndarray
    p_related: np.ndarray
    p_related_if_alive: np.ndarray
    success: np.ndarray
    cost_usd: np.ndarray
    admission_labs: np.ndarray
    lab_rows: LabRows
    delayed_antibiotics: np.ndarray  # a timed stay without an antibiotic in the bundle's hours
    expected: Expectations
    p_complication: np.ndarray
    orders: medications.Orders
    harm: medications.Harm

    @property
    def discharge_h(self) -> np.ndarray:
        return self.admit_h + self.los_h

    def take(self, rows: np.ndarray) -> Stays:
        """These rows of the record, in this order (``lab_rows`` keeps the record's rows)."""
        taken = _rows(self, rows, skip=("lab_rows", "expected", "orders", "harm"))
        return replace(taken, expected=_rows(self.expected, rows), harm=_rows(self.harm, rows))

    @classmethod
    def concatenate(cls, parts: list[Stays]) -> Stays:
        width = max(p.states.shape[1] for p in parts)
        return replace(
            _joined(parts, skip=("states", "lab_rows", "expected", "orders", "harm")),
            states=np.concatenate(
                [np.pad(p.states, ((0, 0), (0, width - p.states.shape[1]))) for p in parts]
            ),
            lab_rows=LabRows.concatenate(
                [p.lab_rows for p in parts], [len(p.patient) for p in parts]
            ),
            expected=_joined([p.expected for p in parts]),
            orders=medications.Orders.concatenate(
                [p.orders for p in parts], [len(p.patient) for p in parts]
            ),
            harm=_joined([p.harm for p in parts]),
        )


def _rows(record: Any, rows: np.ndarray, skip: tuple[str, ...] = ()) -> Any:
    """A record of per-stay arrays with only these rows (the fields in ``skip`` as they are)."""
    return replace(
        record,
        **{f.name: getattr(record, f.name)[rows] for f in fields(record) if f.name not in skip},
    )


def _joined(parts: list[Any], skip: tuple[str, ...] = ()) -> Any:
    """Records of per-stay arrays, one after the other (the fields in ``skip`` from the first)."""
    return replace(
        parts[0],
        **{
            f.name: np.concatenate([getattr(p, f.name) for p in parts])
            for f in fields(parts[0])
            if f.name not in skip
        },
    )


def _medicate(
    plan: WorldPlan,
    medicines: Medicines,
    batch: Batch,
    a: Arrival,
    treatment: Treatment,
    planned: PlannedStay,
) -> tuple[medications.Orders, medications.Harm, PlannedStay]:
    """The stays' orders (antibiotics timed by how sick the patient looks at arrival) and
    adverse drug events, and the planned stays they lengthen."""
    los = plan.config.length_of_stay
    early = medications.bundle_met(
        plan,
        medicines.rng,
        batch.group,
        treatment.admission_lactate,
        a.source == "emergency_department",
    )
    orders = medications.order(
        plan,
        medicines.rng,
        medicines.home,
        batch.patient,
        batch.group,
        a.decades,
        a.comorbid,
        early,
    )
    _, node_steps, node_weights = severity.planned_nodes(
        planned.log_mean,
        los.sigma,
        los.min_hours / HOURS_PER_DAY,
        los.max_days,
        plan.step_hours / HOURS_PER_DAY,
        plan.chain.max_steps,
    )
    harm = medications.harm(
        plan, medicines.rng, orders, planned.steps, a.decades, a.comorbid, node_steps, node_weights
    )
    days = np.minimum(planned.days + harm.extra_days, los.max_days)
    steps = severity.steps_in_stay(days * HOURS_PER_DAY, plan.step_hours, plan.chain.max_steps)
    return orders, harm, replace(planned, days=days, steps=steps)


def _simulate_stays(
    plan: WorldPlan,
    rng: np.random.Generator,
    patients: Patients,
    medicines: Medicines,
    batch: Batch,
) -> Stays:
    """A batch of admissions, step by step: arrival, acuity, treatment, procedure, the planned
    stay, medicines and their harm, the course of severity, labs, destination, readmission risk,
    outcome, and the oracle's expectations. Each step draws from ``rng`` (medicines from their
    own stream) in this order, so a seed gives one world."""
    group = batch.group
    arrival = _arrive(plan, rng, patients, batch)
    acuity = _assess(plan, rng, group, arrival)
    treatment = _treat(plan, rng, patients, batch, arrival, acuity)
    procedure = _operate(plan, rng, group, arrival, acuity)
    as_planned = _plan_stay(plan, rng, group, arrival, acuity, treatment, procedure)
    orders, harm, planned = _medicate(plan, medicines, batch, arrival, treatment, as_planned)
    delayed = medications.antibiotics_late(plan, orders, group)
    course = _run_course(plan, rng, group, arrival, batch.admit_h, acuity, planned, harm, delayed)
    by_drug = (harm.deterioration_step >= 0) & (harm.deterioration_step == course.event_step)
    harm = replace(harm, onset_h=np.where(by_drug, course.event_h, harm.onset_h))
    labs = _draw_labs(plan, rng, treatment, planned, course)
    disposition_if_alive = _disposition(plan, rng, arrival, planned)
    p_related_if_alive = _related_readmission_risk(
        plan,
        patients,
        batch,
        arrival,
        treatment,
        procedure,
        planned,
        labs,
        disposition_if_alive,
        harm,
    )
    outcome = _outcome(plan, rng, group, arrival, acuity, treatment, procedure, course, harm)
    return Stays(
        patient=batch.patient,
        group=group,
        admit_h=batch.admit_h,
        parent=batch.parent,
        facility=arrival.facility,
        admission_type=arrival.admission_type,
        source=arrival.source,
        unit=acuity.unit,
        start_state=acuity.start_state,
        det_group=acuity.det_group,
        protocol=treatment.protocol,
        procedure_slot=procedure.slot,
        complication=procedure.complication,
        n_steps=planned.steps,
        n_obs=course.n_obs,
        states=course.states,
        event_step=course.event_step,
        event_type=course.event_type,
        event_h=course.event_h,
        died=course.died,
        los_h=course.los_h,
        planned_h=planned.days * HOURS_PER_DAY,
        icu_days=course.icu_days,
        icu_until_h=course.icu_until_h,
        disposition=np.where(course.died, EXPIRED, disposition_if_alive),
        p_related=np.where(course.died, 0.0, p_related_if_alive),
        p_related_if_alive=p_related_if_alive,
        success=outcome.success,
        cost_usd=outcome.cost_usd,
        admission_labs=labs.admission,
        lab_rows=labs.rows,
        delayed_antibiotics=delayed,
        expected=_expect(plan, group, acuity, procedure, as_planned, outcome, harm, delayed),
        p_complication=procedure.p_complication,
        orders=orders,
        harm=harm,
    )


# --------------------------------------------------------------------------------------------
# Readmission chains and the patient timeline


def _readmissions(
    plan: WorldPlan, rng: np.random.Generator, patients: Patients, stays: Stays, offset: int
) -> Batch:
    """Related readmissions caused by a batch of stays: real later stays of the same patients.
    They are drawn as if every stay ended alive as planned, so that a death changes no other
    stay's draws; the timeline then drops those that would follow a death."""
    readm = plan.config.readmission
    span_h = plan.span_days * HOURS_PER_DAY
    related = rng.random(len(stays.patient)) < stays.p_related_if_alive
    gap_cdf_max = _weibull_cdf(plan, readm.max_gap_days)
    u = rng.random(len(related)) * gap_cdf_max
    gap_days = readm.gap_weibull_scale_days * (-np.log1p(-u)) ** (1.0 / readm.gap_weibull_shape)
    admit_h = stays.admit_h + stays.planned_h + gap_days * HOURS_PER_DAY
    keep = related & (admit_h < span_h)
    patient = stays.patient[keep]
    fresh = plan.unplanned_groups[choose(rng, patients.dx_probabilities[patient])]
    same = rng.random(len(patient)) < readm.same_group_share
    return Batch(
        patient=patient,
        group=np.where(same, stays.group[keep], fresh),
        admit_h=admit_h[keep],
        parent=offset + np.flatnonzero(keep),
    )


def _weibull_cdf(plan: WorldPlan, days: np.ndarray | float) -> np.ndarray:
    readm = plan.config.readmission
    return 1.0 - np.exp(
        -((np.maximum(days, 0.0) / readm.gap_weibull_scale_days) ** readm.gap_weibull_shape)
    )


def _timeline(stays: Stays) -> np.ndarray:
    """Stays that happen: none overlaps an earlier one, follows a death or lost its cause."""
    order = np.lexsort((stays.admit_h, stays.patient))
    keep = np.zeros(len(order), dtype=bool)
    patient, admit, discharge = (
        stays.patient.tolist(),
        stays.admit_h.tolist(),
        stays.discharge_h.tolist(),
    )
    parent, died = stays.parent.tolist(), stays.died.tolist()
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
    plan: WorldPlan, patients: Patients, stays: Stays, window_days: int, p_related: np.ndarray
) -> np.ndarray:
    """P(an unplanned admission within the window after discharge), as the generator draws it.

    Related readmission with its gap distribution, or a background unplanned admission from the
    patient's seasonal Poisson process, both cut at the end of the span (unobserved).
    """
    span_days = plan.span_days
    start = stays.discharge_h / HOURS_PER_DAY
    end = np.minimum(start + window_days, span_days)
    related = (
        p_related
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
    patient = stays.patient
    expected = (
        patients.unplanned_rate[patient]
        * span_days
        / 365.25
        * (patients.dx_probabilities[patient] * mass).sum(axis=1)
    )
    return np.where(stays.died, np.nan, 1.0 - (1.0 - related) * np.exp(-expected))


@dataclass(frozen=True)
class Block:
    """One block of the world as simulated: the generator (its state where the simulation left
    it, for what is recorded next), the patients, their medicines, every stay drawn, the stays
    that happened (``kept``), the readmission oracle per window (and at 30 days at an average
    facility), and the block's number."""

    rng: np.random.Generator
    patients: Patients
    medicines: Medicines
    stays: Stays
    kept: np.ndarray
    p_readmit: dict[int, np.ndarray]
    p_readmit_30d_average_facility: np.ndarray
    number: int


def simulate_block(plan: WorldPlan, block: int) -> Block:
    """Patients, their admissions and stays, from the block's own seed."""
    rng = np.random.default_rng(np.random.SeedSequence(plan.config.seed, spawn_key=(block,)))
    patients = draw_patients(plan, rng, block)
    medication_rng = medications.stream(plan, block)
    medicines = Medicines(
        medication_rng, medications.home_medicines(plan, medication_rng, patients)
    )
    # Index admissions, then generation after generation of the readmissions they cause.
    parts, batch, offset = [], _index_admissions(plan, rng, patients), 0
    while not parts or len(batch.patient):
        stays = _simulate_stays(plan, rng, patients, medicines, batch)
        parts.append(stays)
        batch = _readmissions(plan, rng, patients, stays, offset)
        offset += len(stays.patient)
    stays = Stays.concatenate(parts)
    windows = (30, 60, 90)
    return Block(
        rng,
        patients,
        medicines,
        stays,
        _timeline(stays),
        {w: _readmission_oracle(plan, patients, stays, w, stays.p_related) for w in windows},
        _readmission_oracle(plan, patients, stays, 30, _related_at_average_facility(plan, stays)),
        block,
    )
