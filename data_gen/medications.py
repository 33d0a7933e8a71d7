"""What patients take and are given, and the harm drugs do: orders and adverse drug events.

Each patient's home medicines follow from their chronic conditions and age; each stay continues
most of them (some held for its diagnosis) and adds the orders its diagnosis group calls for, each
with a first dose, a course and a dose from the formulary. In every vitals interval of the stay as
planned, each kind of adverse drug event has a chance that is a logistic function of the patient's
age and conditions, the drug classes active at the interval's start, and the pairs of them the
world makes harmful together (``medications.adverse_events``). A stay has at most one event: it
lengthens the stay, costs its treatment, raises the odds of a related readmission and may itself be
a deterioration event. In infections, whether the antibiotics' first doses come within the bundle's
hours depends on how sick the patient looks (``medications.antibiotic_timing``); a later first dose
makes the first interval's worsening likelier (``data_gen.severity``). The equations are documented
in docs/world.md "Medications".

Medicines draw from their own random stream (``MEDICATION_STREAM`` and the block's number), so the
rest of the world's draws are the same with or without them; with no harm configured, the world
is the one drawn without medicines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from configs.data_gen import Medications
from configs.vocabulary import DETERIORATION_EVENTS
from data_gen.world import (
    HOURS_PER_DAY,
    Patients,
    WorldPlan,
    at,
    choose,
    choose_with,
    decades_over_65,
    logit,
    sigmoid,
)

MEDICATION_STREAM = 2**32 + 2
SURGICAL_UNITS = ("surgery", "orthopedics")
CAUSES = ("interaction", "drug", "background")  # what an adverse drug event is put down to


def stream(plan: WorldPlan, block: int, part: int = 0) -> np.random.Generator:
    """The block's medication stream (``part`` 1: what is recorded of it)."""
    seed = np.random.SeedSequence(plan.config.seed, spawn_key=(MEDICATION_STREAM, block, part))
    return np.random.default_rng(seed)


@dataclass(frozen=True)
class Formulary:
    """The formulary as arrays: drug names, and which drugs each class or drug name covers."""

    drugs: np.ndarray  # names, in the configuration's order
    members: dict[str, np.ndarray]  # class or drug name -> bool over drugs

    @classmethod
    def of(cls, meds: Medications) -> Formulary:
        drugs = np.array(list(meds.formulary), dtype=object)
        names = [*meds.formulary, *meds.classes]
        return cls(drugs, {name: np.isin(drugs, list(meds.drugs_of(name))) for name in names})

    def index(self, names: list[str]) -> np.ndarray:
        return np.array([list(self.drugs).index(n) for n in names], dtype=np.int64)


def home_medicines(plan: WorldPlan, rng: np.random.Generator, patients: Patients) -> np.ndarray:
    """[patient, drug]: what each patient takes at home, from the rules of their conditions."""
    meds, formulary = plan.config.medications, plan.formulary
    names = [c.name for c in plan.config.comorbidities]
    n = len(patients.index)
    decades = decades_over_65(patients.age)
    taking = np.zeros((n, len(formulary.drugs)), dtype=bool)
    for rule in meds.home:
        has = (
            np.ones(n, bool)
            if rule.condition == "any"
            else patients.comorbid[:, names.index(rule.condition)]
        )
        log_odds = logit(rule.probability) + np.log(rule.odds_ratio_per_decade) * decades
        chosen = has & (rng.random(n) < sigmoid(log_odds))
        drug = _pick(rng, formulary, rule.drugs, n)
        taking[np.flatnonzero(chosen), drug[chosen]] = True
    return taking


def _pick(rng: np.random.Generator, formulary: Formulary, weights: dict[str, float], n: int):
    """One of the weighted drugs for each of ``n`` rows (formulary indices)."""
    p = np.array(list(weights.values()), dtype=float)
    return formulary.index(list(weights))[choose(rng, np.broadcast_to(p, (n, len(p))))]


@dataclass(frozen=True)
class Orders:
    """Every medication order of a set of stays: the stay (its row), the drug (formulary index),
    whether it was ordered in hospital (else a reconciled home medicine), the first dose and the
    stop in hours from admission (inf: until discharge), the dose, and whether it was given."""

    stay: np.ndarray
    drug: np.ndarray
    inpatient: np.ndarray
    start_h: np.ndarray
    stop_h: np.ndarray
    dose: np.ndarray
    given: np.ndarray

    @classmethod
    def concatenate(cls, parts: list[Orders], stays: list[int]) -> Orders:
        """The orders of consecutive sets of stays (``stays``: how many each set has)."""
        offsets = np.cumsum([0, *stays[:-1]])
        return cls(
            stay=np.concatenate([p.stay + o for p, o in zip(parts, offsets, strict=True)]),
            **{
                name: np.concatenate([getattr(p, name) for p in parts])
                for name in ("drug", "inpatient", "start_h", "stop_h", "dose", "given")
            },
        )


def timed(plan: WorldPlan, group: np.ndarray) -> np.ndarray:
    """The stays whose antibiotics are timed against the bundle (their diagnosis group's)."""
    names = [g.name for g in plan.config.diagnoses]
    timing = plan.config.medications.antibiotic_timing
    return np.isin(group, [names.index(g) for g in timing.groups])


def bundle_met(
    plan: WorldPlan,
    rng: np.random.Generator,
    group: np.ndarray,
    lactate: np.ndarray,
    emergency_arrival: np.ndarray,
) -> np.ndarray:
    """Whether the team gives a timed stay's antibiotics within the bundle's hours: likelier the
    sicker the patient looks at arrival (the study's confounding). False for the other stays."""
    timing = plan.config.medications.antibiotic_timing
    by_group = [timing.groups.get(g.name, 0.0) for g in plan.config.diagnoses]
    group_log_odds = np.array(by_group)[group]
    log_odds = (
        group_log_odds
        + timing.lactate * (lactate - 1.0)
        + timing.emergency_arrival * emergency_arrival
    )
    return timed(plan, group) & (rng.random(len(group)) < sigmoid(log_odds))


def antibiotics_late(plan: WorldPlan, orders: Orders, group: np.ndarray) -> np.ndarray:
    """The timed stays without a given antibiotic dose within the bundle's hours (none at all
    included): the stays the delayed chain applies to."""
    hours = plan.config.medications.antibiotic_timing.bundle_hours
    on_time = (
        orders.given & plan.formulary.members["antibiotic"][orders.drug] & (orders.start_h < hours)
    )
    treated = np.zeros(len(group), dtype=bool)
    treated[orders.stay[on_time]] = True
    return timed(plan, group) & ~treated


def order(
    plan: WorldPlan,
    rng: np.random.Generator,
    home: np.ndarray,
    patient: np.ndarray,
    group: np.ndarray,
    decades: np.ndarray,
    comorbid: np.ndarray,
    early: np.ndarray,
) -> Orders:
    """The orders of a batch of stays: home medicines continued, then the inpatient rules (a
    timed stay's antibiotics start within the bundle's hours where ``early``, else after them)."""
    meds, formulary, c = plan.config.medications, plan.formulary, plan.config
    n, n_drugs = len(patient), len(formulary.drugs)
    group_names = np.array([g.name for g in c.diagnoses], dtype=object)[group]
    timing = meds.antibiotic_timing
    window = np.where(early[:, None], timing.early_hours, timing.late_hours)  # [stay, (low, high)]
    antibiotic, timed_stay = formulary.members["antibiotic"], timed(plan, group)
    names = [x.name for x in c.comorbidities]

    ordered = home[patient] & (rng.random((n, n_drugs)) < meds.continued_share)
    for hold in meds.holds:
        held_drugs = np.any([formulary.members[k] for k in hold.classes], axis=0)
        in_group = np.isin(group_names, hold.groups)
        held = (
            in_group[:, None] & held_drugs[None, :] & (rng.random((n, n_drugs)) < hold.probability)
        )
        ordered &= ~held
    low, high = meds.reconciliation_hours
    stay, drug = np.nonzero(ordered)
    start = low + (high - low) * rng.random(len(stay))
    parts = [(stay, drug, np.zeros(len(stay), bool), start, np.full(len(stay), np.inf))]

    surgical = np.isin(plan.groups["unit"][group], SURGICAL_UNITS)
    for rule in meds.inpatient:
        eligible = np.isin(group_names, rule.groups) & ~np.isin(group_names, rule.not_in)
        if "all" in rule.groups:
            eligible |= ~np.isin(group_names, rule.not_in)
        if "surgical" in rule.groups:
            eligible |= surgical
        if rule.not_with:
            excluded = np.any([formulary.members[k] for k in rule.not_with], axis=0)
            eligible &= ~(ordered & excluded[None, :]).any(axis=1)
        log_odds = logit(rule.probability) + np.log(rule.odds_ratio_per_decade) * decades
        for condition, odds_ratio in rule.conditions.items():
            log_odds = log_odds + np.log(odds_ratio) * comorbid[:, names.index(condition)]
        chosen = eligible & (rng.random(n) < sigmoid(log_odds))
        drug = _pick(rng, formulary, rule.drugs, n)
        low, high = np.where((timed_stay & antibiotic[drug])[:, None], window, rule.start_hours).T
        start = low + (high - low) * rng.random(n)
        if rule.days is None:
            stop = np.full(n, np.inf)
        else:
            stop = start + HOURS_PER_DAY * (rule.days[0] + np.diff(rule.days)[0] * rng.random(n))
        new = chosen & ~ordered[np.arange(n), drug]  # a drug already ordered is not ordered again
        ordered[np.flatnonzero(new), drug[new]] = True
        rows = np.flatnonzero(new)
        parts.append((rows, drug[rows], np.ones(len(rows), bool), start[rows], stop[rows]))

    stay, drug, inpatient, start, stop = (np.concatenate(x) for x in zip(*parts, strict=True))
    sequence = np.lexsort((drug, start, stay))
    stay, drug, inpatient, start, stop = (x[sequence] for x in (stay, drug, inpatient, start, stop))
    given = rng.random(len(stay)) >= meds.not_administered
    return Orders(stay, drug, inpatient, start, stop, _doses(plan, rng, drug), given)


def _doses(plan: WorldPlan, rng: np.random.Generator, drug: np.ndarray) -> np.ndarray:
    """One of each drug's usual doses, equally likely."""
    doses = [plan.config.medications.formulary[d].doses for d in plan.formulary.drugs]
    table = np.full((len(doses), max(map(len, doses))), np.nan)
    for d, values in enumerate(doses):
        table[d, : len(values)] = values
    count = np.array([len(v) for v in doses])[drug]
    return table[drug, (rng.random(len(drug)) * count).astype(np.int64)]


@dataclass(frozen=True)
class Harm:
    """Each stay's adverse drug event (at most one), what it does, and the chances behind it."""

    kind: np.ndarray  # index into ADVERSE_DRUG_EVENTS; -1: none
    step: np.ndarray  # the vitals interval of its onset; -1: none
    onset_h: np.ndarray  # hours from admission; NaN: none
    event_type: np.ndarray  # the deterioration event it is (one of DETERIORATION_EVENTS), or None
    cause: np.ndarray  # one of CAUSES, or None
    interaction: np.ndarray  # the world's harmful pair active at its onset ("a+b"), or None
    extra_days: np.ndarray
    cost_usd: np.ndarray
    readmit_log_odds: np.ndarray
    hazard: np.ndarray  # [stay, interval]: P(an event in it | none before), float32
    event_hazard: np.ndarray  # [stay, interval]: P(... and it is a deterioration event)
    p_any: np.ndarray  # P(an event during the stay as planned)
    p_any_without_interactions: np.ndarray  # the same had no harmful pair been active
    expected_extra_days: np.ndarray  # at admission, over the planned stay's distribution
    expected_cost_usd: np.ndarray
    p_death: np.ndarray  # at admission: P(an event that is a death)
    p_deterioration: np.ndarray  # at admission: P(an event that is a deterioration event)

    @property
    def deterioration_step(self) -> np.ndarray:
        """The interval in which the stay's event is a deterioration event; -1: none."""
        return np.where(np.not_equal(self.event_type, None), self.step, -1)


def harm(
    plan: WorldPlan,
    rng: np.random.Generator,
    orders: Orders,
    steps: np.ndarray,
    decades: np.ndarray,
    comorbid: np.ndarray,
    node_steps: np.ndarray,
    node_weights: np.ndarray,
) -> Harm:
    """Draw each stay's adverse drug event over its ``steps`` planned intervals. The oracle's
    expectations integrate over the planned stay's quadrature nodes (``node_steps``: the
    intervals at each, [stay, node])."""
    events = plan.config.medications.adverse_events
    n, width, step_h = len(steps), plan.chain.max_steps, plan.step_hours
    # What is active changes only where an order starts or stops: past the batch's last such
    # interval every chance stays what it is there, so only the intervals up to it are computed.
    span = _changing_span(orders, step_h, width)
    active = _active(plan, orders, n, span)
    names = [c.name for c in plan.config.comorbidities]
    kinds = list(events)
    # [kind, stay]: each kind's log odds per interval from the patient alone, no drug active
    base = np.zeros((len(kinds), n))
    p = np.zeros((len(kinds), n, span), dtype=np.float32)
    p_alone = np.zeros_like(p)  # without the harmful pairs
    for k, kind in enumerate(kinds):
        e = events[kind]
        per_step = 1.0 - (1.0 - e.daily_probability) ** (step_h / HOURS_PER_DAY)
        base[k] = logit(per_step) + e.age_per_decade * decades
        for condition, log_odds in e.comorbidities.items():
            base[k] += log_odds * comorbid[:, names.index(condition)]
        alone = base[k][:, None] + sum(
            (lo * (active[name] > 0) for name, lo in e.drugs.items()), np.zeros((n, span))
        )
        pairs = sum((lo * _pair(active, a, b) for a, b, lo in e.interactions), np.zeros((n, span)))
        p[k], p_alone[k] = sigmoid(alone + pairs), sigmoid(alone)
    within = np.arange(width)[None, :] < steps[:, None]
    total = np.minimum(p.sum(axis=0), 0.999)
    hazard = _extended(total, width) * within
    no_pairs = _extended(np.minimum(p_alone.sum(axis=0), 0.999), width) * within
    survival = _survival(hazard)
    u = rng.random((n, 5))
    step = np.where(
        u[:, 0] < 1.0 - survival[:, -1],
        np.argmax((1.0 - survival[:, 1:]) > u[:, [0]], axis=1),
        -1,
    )
    rows = np.flatnonzero(step >= 0)
    column = np.minimum(step[rows], span - 1)
    at = p[:, rows, column].T  # [event, kind]
    kind = np.full(n, -1)
    kind[rows] = choose_with(u[rows, 1], at)
    p_kind = at[np.arange(len(rows)), kind[rows]]
    p_kind_alone = p_alone[kind[rows], rows, column]
    base_only = sigmoid(base[kind[rows], rows])
    share = np.stack(
        [(p_kind - p_kind_alone) / p_kind, (p_kind_alone - base_only) / p_kind], axis=1
    )
    cause = np.full(n, None, dtype=object)
    cause[rows] = np.array(CAUSES, dtype=object)[
        choose_with(u[rows, 2], np.c_[share, 1.0 - share.sum(axis=1)])
    ]
    interaction = np.full(n, None, dtype=object)
    interaction[rows] = _strongest_pair(events, kinds, active, kind[rows], rows, column)
    event_type = np.full(n, None, dtype=object)
    shares = np.array([[events[k].events.get(t, 0.0) for t in DETERIORATION_EVENTS] for k in kinds])
    chance = shares[kind[rows]]
    fired = u[rows, 3] < chance.sum(axis=1)
    picked = choose_with(u[rows, 3], np.c_[chance, 1.0 - chance.sum(axis=1)])
    event_type[rows[fired]] = np.array(DETERIORATION_EVENTS, dtype=object)[picked[fired]]
    onset_h = np.full(n, np.nan)
    onset_h[rows] = (step[rows] + u[rows, 4]) * step_h
    per_kind = {
        field: np.array([getattr(events[k], field) for k in kinds] + [0.0])
        for field in ("extra_days", "cost_usd", "readmit_log_odds")
    }
    death = shares[:, DETERIORATION_EVENTS.index("death")]
    consequences = np.stack(
        [per_kind["extra_days"][:-1], per_kind["cost_usd"][:-1], death, shares.sum(axis=1)]
    )
    expected = _expected(p, total, node_steps, node_weights, consequences)
    return Harm(
        kind=kind,
        step=step,
        onset_h=onset_h,
        event_type=event_type,
        cause=cause,
        interaction=interaction,
        **{field: values[kind] for field, values in per_kind.items()},
        hazard=hazard.astype(np.float32),
        event_hazard=(
            _extended((p * shares.sum(axis=1)[:, None, None]).sum(axis=0), width) * within
        ).astype(np.float32),
        p_any=1.0 - survival[:, -1],
        p_any_without_interactions=1.0 - _survival(no_pairs)[:, -1],
        expected_extra_days=expected[0],
        expected_cost_usd=expected[1],
        p_death=expected[2],
        p_deterioration=expected[3],
    )


def _changing_span(orders: Orders, step_h: float, width: int) -> int:
    """Intervals up to and including the last at which a given order starts or stops (at most
    ``width``): what is active in any later interval is what is active in that one."""
    given = orders.given
    starts = np.ceil(orders.start_h[given] / step_h)
    stops = orders.stop_h[given]
    stops = np.ceil(stops[np.isfinite(stops)] / step_h)
    last = max(starts.max(initial=0.0), stops.max(initial=0.0))
    return int(min(width, last + 1))


def _extended(values: np.ndarray, width: int) -> np.ndarray:
    """[stay, interval] values over ``width`` intervals, the last column repeated after its own."""
    tail = np.repeat(values[:, -1:], width - values.shape[1], axis=1)
    return np.concatenate([values, tail], axis=1)


def _active(plan: WorldPlan, orders: Orders, n: int, width: int) -> dict[str, np.ndarray]:
    """[stay, interval]: how many given orders of each class or drug the harm model names are
    active at the start of each of the first ``width`` intervals."""
    formulary, step_h = plan.formulary, plan.step_hours
    named = {
        name
        for e in plan.config.medications.adverse_events.values()
        for name in (*e.drugs, *(x for a, b, _ in e.interactions for x in (a, b)))
    }
    first = np.clip(np.ceil(orders.start_h / step_h), 0, width).astype(np.int64)
    last = np.clip(np.ceil(np.minimum(orders.stop_h, width * step_h) / step_h), 0, width)
    active = {}
    for name in sorted(named):
        mine = orders.given & formulary.members[name][orders.drug]
        change = np.zeros((n, width + 1), dtype=np.int16)
        np.add.at(change, (orders.stay[mine], first[mine]), 1)
        np.add.at(change, (orders.stay[mine], last[mine].astype(np.int64)), -1)
        active[name] = np.cumsum(change, axis=1, dtype=np.int16)[:, :width].astype(np.int8)
    return active


def _pair(active: dict[str, np.ndarray], a: str, b: str) -> np.ndarray:
    """Where a harmful pair is active: two drugs of one class, or one of each of two."""
    if a == b:
        return active[a] >= 2
    return (active[a] > 0) & (active[b] > 0)


def _survival(hazard: np.ndarray) -> np.ndarray:
    """[stay, interval + 1]: P(no event before each interval), from 1 at the first."""
    ones = np.ones((len(hazard), 1))
    return np.concatenate([ones, np.cumprod(1.0 - hazard.astype(float), axis=1)], axis=1)


def _strongest_pair(
    events: dict, kinds: list[str], active: dict[str, np.ndarray], kind, rows, step
) -> np.ndarray:
    """The harmful pair with the largest effect active at each event's onset ("a+b"), or None."""
    named = np.full(len(rows), None, dtype=object)
    strength = np.zeros(len(rows))
    for k, name in enumerate(kinds):
        for a, b, log_odds in events[name].interactions:
            on = (kind == k) & _pair(active, a, b)[rows, step] & (log_odds > strength)
            named[on], strength[on] = f"{a}+{b}", log_odds
    return named


def _expected(
    p: np.ndarray,
    total: np.ndarray,
    node_steps: np.ndarray,
    node_weights: np.ndarray,
    consequences: np.ndarray,
) -> np.ndarray:
    """At admission, over the planned stay's distribution (``node_steps``: intervals at each
    quadrature node): each consequence's expectation ([consequence, kind]: what an event of the
    kind brings, such as extra days, cost, or the chance it is a death), [consequence, stay].
    ``p`` and ``total`` (the chance of any event) cover the first intervals; after them every
    chance stays at its last value, so the survival decays geometrically there."""
    span = total.shape[1]
    survival = _survival(total)
    rows = np.arange(len(node_steps))[:, None]
    inside = np.minimum(node_steps, span)
    after = np.maximum(node_steps - span, 0)
    last = total[:, [-1]].astype(float)
    # sum over the intervals after the span of P(no event before them)
    decay = np.where(
        last > 0, -np.expm1(after * np.log1p(-last)) / np.where(last > 0, last, 1), after
    )
    tail = survival[:, [span]] * decay
    totals = np.zeros((len(consequences), len(node_steps)))
    for k in range(len(p)):
        first = np.concatenate(
            [np.zeros((len(p[k]), 1)), np.cumsum(survival[:, :-1] * p[k], axis=1)], axis=1
        )
        within = first[rows, inside] + p[k][:, [-1]] * tail
        totals += np.outer(consequences[:, k], within @ node_weights)  # P(this event in the stay)
    return totals


ORDER_ID_PER_STAY = 100  # order numbers: the stay's number times this, plus the order's rank


def tables(
    plan: WorldPlan,
    block: int,
    orders: Orders,
    kept: np.ndarray,
    s: Harm,
    admit_h: np.ndarray,
    los_h: np.ndarray,
    event_step: np.ndarray,
    event_type: np.ndarray,
    encounter_id: np.ndarray,
) -> dict[str, pd.DataFrame]:
    """What is recorded of the stays ``kept`` (rows of the record ``orders`` belongs to; ``s`` and
    the arrays: those stays, in that order, with the step and type of each stay's deterioration
    event): the medication orders, the adverse drug events coded on the stays (as diagnosis
    rows), and the oracle's events (an event's deterioration only where it was the stay's)."""
    meds, formulary = plan.config.medications, plan.formulary
    rng = stream(plan, block, part=1)
    position = np.full(int(orders.stay.max()) + 1 if len(orders.stay) else 0, -1)
    position[kept] = np.arange(len(kept))
    row = np.flatnonzero(position[orders.stay] >= 0)
    stay = position[orders.stay[row]]
    started = orders.start_h[row] < los_h[stay]  # the stay lasted until the first dose
    row, stay = row[started], stay[started]
    sequence = np.lexsort((orders.drug[row], orders.start_h[row], stay))
    row, stay = row[sequence], stay[sequence]
    lag_h = 0.1 + 0.9 * rng.random(len(row))
    rank = np.arange(len(stay)) - np.searchsorted(stay, stay)  # orders are sorted by stay
    drug = formulary.drugs[orders.drug[row]]
    entry = [meds.formulary[d] for d in drug]
    start, given = orders.start_h[row], orders.given[row]
    medications = pd.DataFrame(
        {
            "order_id": encounter_id[stay] * ORDER_ID_PER_STAY + rank,
            "encounter_id": encounter_id[stay],
            "rxnorm_code": [e.rxcui for e in entry],
            "drug_name": [d.replace("_", " ") for d in drug],
            "dose": orders.dose[row],
            "dose_unit": [e.unit for e in entry],
            "route": [e.route for e in entry],
            "frequency": [e.frequency for e in entry],
            "source": np.where(orders.inpatient[row], "inpatient", "home").astype(object),
            "ordered_at": at(plan, admit_h[stay] + np.maximum(start - lag_h, 0.0)),
            "first_dose_at": pd.array(
                np.where(given, at(plan, admit_h[stay] + start), np.datetime64("NaT")),
                dtype="datetime64[s]",
            ),
            "stopped_at": at(plan, admit_h[stay] + np.minimum(orders.stop_h[row], los_h[stay])),
        }
    )
    happened = np.flatnonzero((s.kind >= 0) & (s.onset_h <= los_h))
    kinds = list(meds.adverse_events)
    events = [meds.adverse_events[kinds[k]] for k in s.kind[happened]]
    coded = rng.random(len(happened)) < np.array([e.coded for e in events])
    oracle = pd.DataFrame(
        {
            "encounter_id": encounter_id[happened],
            "event": np.array(kinds, dtype=object)[s.kind[happened]],
            "onset_at": at(plan, admit_h[happened] + s.onset_h[happened]),
            "cause": s.cause[happened],
            "interaction": s.interaction[happened],
            "deterioration_event": np.where(
                (s.deterioration_step == event_step)[happened], event_type[happened], None
            ),
            "coded": coded,
        }
    )
    diagnoses = pd.DataFrame(
        {
            "encounter_id": encounter_id[happened[coded]],
            "code": np.array([e.code for e in events], dtype=object)[coded],
            "present_on_admission": np.zeros(int(coded.sum()), dtype=bool),
        }
    )
    return {
        "medications": medications,
        "oracle_adverse_drug_events": oracle,
        "diagnoses": diagnoses,
    }


def deterioration_within(
    s: Harm, stay: np.ndarray, step: np.ndarray, steps: np.ndarray
) -> np.ndarray:
    """P(an adverse drug event that is a deterioration event within the next ``steps``
    intervals | the history up to interval ``step``), per observation of ``stay``."""
    survival = _survival(s.hazard)
    caught = np.concatenate(
        [np.zeros((len(survival), 1)), np.cumsum(survival[:, :-1] * s.event_hazard, axis=1)],
        axis=1,
    )
    end = np.minimum(step + steps, s.hazard.shape[1])
    p = (caught[stay, end] - caught[stay, step]) / survival[stay, step]
    return np.where((s.step[stay] >= 0) & (s.step[stay] < step), 0.0, p)
