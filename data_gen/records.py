"""What the hospital records of the simulated world: the raw tables, and the oracle's.

``generate_block`` simulates one block of patients (``data_gen.world``) and renders what a
hospital's systems would hold of it: the encounters, the codes as coded (with the coding rules in
force), the vitals and labs as measured, the procedures, the ED visits (those that led to an
admission and those that did not) and the patients with their identifiers; and beside them the
oracle's true probabilities and expectations. Measurement, coding and ED timings draw from the
block's generator after the simulation, so the world itself does not depend on how it is recorded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from configs.vocabulary import CONSCIOUSNESS
from data_gen import medications, operations, payments, severity
from data_gen.stays import Block, LabRows, Stays, simulate_block
from data_gen.world import (
    HOURS_PER_DAY,
    LAB_TESTS,
    Patients,
    WorldPlan,
    academic_facility,
    at,
    choose,
    hour_weights,
    sigmoid,
)

NOT_ALERT = np.array(CONSCIOUSNESS[1:], dtype=object)  # ACVPU levels below alert
ORACLE_WINDOW_HOURS = 24  # the oracle's deterioration risk: within 24 hours
COMPLICATION_CODE = "T81.89XA"
ANAEMIA_CODE, HYPONATRAEMIA_CODE, AKI_CODE = "D64.9", "E87.1", "N17.9"


def generate_block(plan: WorldPlan, block: int) -> dict[str, pd.DataFrame]:
    """All raw and oracle tables for one block of patients, from the block's own seed."""
    return block_tables(plan, simulate_block(plan, block))


def block_tables(plan: WorldPlan, block: Block) -> dict[str, pd.DataFrame]:
    """The raw and oracle tables of a simulated block."""
    tables = _tables(plan, block)
    _apply_coding_changes(plan.config.coding_changes, tables)
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


def _crowding(plan: WorldPlan, facility: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Tens of points of the hospital's occupancy above ``crowding_occupancy`` at these hours
    (none in a world drawn without its first pass)."""
    if plan.operations is None:
        return np.zeros(len(hours))
    occupancy = plan.operations.occupancy
    hour = np.clip(np.floor(hours).astype(np.int64), 0, occupancy.shape[1] - 1)
    ed = plan.config.emergency_department
    crowded = np.minimum(occupancy[facility, hour], ed.crowding_max_occupancy)
    return np.maximum(crowded - ed.crowding_occupancy, 0.0) * 10.0


def _provider_wait(plan: WorldPlan, facility: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """The multiplier of the wait for a provider from the ED's load at these hours (none in a
    world drawn without its first pass)."""
    if plan.operations is None:
        return np.ones(len(hours))
    load = plan.operations.ed_load[facility, operations.hour_of_week(plan, hours)]
    return operations.provider_wait_multiplier(plan, load.astype(float))


def _tables(plan: WorldPlan, block: Block) -> dict[str, pd.DataFrame]:
    """The raw tables (and the oracle's) of the stays that happened, in patient and time order."""
    c, rng, patients, stays = plan.config, block.rng, block.patients, block.stays
    kept = np.flatnonzero(block.kept)
    kept = kept[np.lexsort((stays.admit_h[kept], stays.patient[kept]))]
    patient = stays.patient[kept]
    first_of_patient = np.r_[True, patient[1:] != patient[:-1]]
    sequence = np.arange(len(kept)) - np.maximum.accumulate(
        np.where(first_of_patient, np.arange(len(kept)), 0)
    )
    encounter_id = patients.index[patient] * 1000 + sequence + 1
    s = stays.take(kept)
    admit_h, los_h = s.admit_h, s.los_h

    groups = np.array(c.diagnoses, dtype=object)[s.group]
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
        "labs": _labs_table(plan, stays.lab_rows, kept, encounter_id, admit_h),
        "diagnoses": _diagnoses_table(plan, rng, patients, s, encounter_id, primary_dx),
        "procedures": _procedures_table(plan, rng, s, encounter_id),
    }
    tables["vitals"], tables["oracle_vitals"] = _vitals_tables(plan, rng, patients, s, encounter_id)
    recorded = medications.tables(
        plan,
        block.number,
        stays.orders,
        kept,
        s.harm,
        admit_h,
        los_h,
        s.event_step,
        s.event_type,
        encounter_id,
    )
    tables["medications"] = recorded["medications"]
    tables["oracle_adverse_drug_events"] = recorded["oracle_adverse_drug_events"]
    tables["diagnoses"] = (
        pd.concat([tables["diagnoses"], recorded["diagnoses"]], ignore_index=True)
        .drop_duplicates(["encounter_id", "code"])  # a code already on the stay is coded once
        .sort_values("encounter_id", kind="stable", ignore_index=True)
    )

    sat = c.satisfaction
    facility_shift = np.array([f.satisfaction_shift for f in c.facilities])[s.facility]
    score = (
        sat.baseline
        + sat.log_los_days * np.log(los_h / HOURS_PER_DAY)
        + sat.complication * s.complication
        + sat.long_ed_wait * (ed_wait_h > 2.0)
        + facility_shift
        + rng.normal(0.0, sat.noise_sd, len(kept))
    )
    responded = ~s.died & (rng.random(len(kept)) < sat.response_rate)
    satisfaction = pd.array(
        np.where(responded, np.clip(np.round(score), 0, 10), np.nan), dtype="Int8"
    )
    tables["encounters"] = pd.DataFrame(
        {
            "encounter_id": encounter_id,
            "patient_id": patients.index[patient],
            "facility_id": s.facility + 1,
            "admitted_at": at(plan, admit_h),
            "discharged_at": at(plan, admit_h + los_h),
            "admission_type": s.admission_type,
            "admission_source": s.source,
            "unit": s.unit,
            "ward_unit": plan.groups["unit"][s.group],
            "primary_dx_code": primary_dx,
            "discharge_disposition": s.disposition,
            "icu_days": np.floor(s.icu_days * 100) / 100,  # never above the recorded stay
            "deterioration_event": s.event_type,
            "deterioration_at": pd.array(
                np.where(
                    pd.notna(s.event_type),
                    at(plan, admit_h + np.nan_to_num(s.event_h)),
                    np.datetime64("NaT"),
                ),
                dtype="datetime64[s]",
            ),
            "treatment_protocol": s.protocol,
            "treatment_success": s.success,
            "complication": s.complication,
            "total_cost_usd": np.round(s.cost_usd, 2),
            "satisfaction_score": satisfaction,
        }
    )
    tables["claims"], oracle_claims = payments.claims_tables(
        plan,
        block.number,
        s,
        patients.payer[patient],
        encounter_id,
        tables["diagnoses"],
    )
    tables["diagnoses"]["position"] = (
        tables["diagnoses"].groupby("encounter_id").cumcount().astype(np.int16) + 1
    )
    tables["oracle_encounters"] = pd.DataFrame(
        {
            "encounter_id": encounter_id,
            **{f"p_readmit_{w}d": values[kept] for w, values in block.p_readmit.items()},
            "p_readmit_30d_average_facility": block.p_readmit_30d_average_facility[kept],
            "expected_los_days": s.expected.los_days,
            "expected_icu_days": s.expected.icu_days,
            "expected_cost_usd": s.expected.cost_usd,
            "p_in_hospital_death": s.expected.p_death,
            "p_treatment_success": s.expected.p_success,
            "p_complication": s.p_complication,
            "initial_severity_state": s.start_state.astype(np.int8),
            "deterioration_group": s.det_group.astype(np.int8),
            "p_claim_paid": oracle_claims["p_paid"].to_numpy(),
            "expected_paid_usd": oracle_claims["expected_paid_usd"].to_numpy(),
            "p_adverse_drug_event": s.harm.p_any,
            "p_adverse_drug_event_without_interactions": s.harm.p_any_without_interactions,
            "antibiotics_delayed": s.delayed_antibiotics,
            "p_deterioration_antibiotics_early": s.expected.p_deterioration_antibiotics_early,
            "p_deterioration_antibiotics_late": s.expected.p_deterioration_antibiotics_late,
        }
    )
    tables["oracle_patients"] = pd.DataFrame(
        {
            "patient_id": patients.index,
            "frailty": patients.frailty,
            "charlson_true": patients.charlson.astype(np.int16),
            "unplanned_admissions_per_year": patients.unplanned_rate,
            "ed_visits_per_year": patients.ed_rate,
            "home_medicines": block.medicines.home.sum(axis=1).astype(np.int16),
        }
    )
    return tables


def _vitals_tables(
    plan: WorldPlan,
    rng: np.random.Generator,
    patients: Patients,
    s: Stays,
    encounter_id: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Vitals every interval of each stay, and the oracle's deterioration risk at each one."""
    c, v, step = plan.config, plan.config.vitals, plan.step_hours
    n_obs = s.n_obs
    stay = np.repeat(np.arange(len(n_obs)), n_obs)
    k = np.arange(len(stay)) - np.repeat(np.cumsum(n_obs) - n_obs, n_obs)
    observed_h = s.admit_h[stay] + k * step + rng.random(len(stay)) * severity.STEP_LEAD_HOURS
    state = s.states[stay, k].astype(np.int64)
    rows = len(stay)
    latent = state + rng.normal(0.0, v.latent_noise_sd, rows)

    def sign(spec, shift=0.0) -> np.ndarray:
        return (
            shift + spec.baseline + spec.per_state * latent + rng.normal(0.0, spec.noise_sd, rows)
        )

    copd = (
        patients.comorbid[s.patient, plan.comorbidity_names.index("copd")][stay]
        if "copd" in plan.comorbidity_names
        else np.zeros(rows, bool)
    )
    untreated_spo2 = sign(v.spo2, v.copd_spo2_shift * copd)
    on_oxygen = untreated_spo2 < v.oxygen_spo2_threshold
    spo2 = untreated_spo2 + v.oxygen_spo2_gain * on_oxygen
    infection = plan.groups["infection"][s.group][stay]
    temperature = sign(v.temperature_c, v.fever_per_state * np.maximum(latent, 0.0) * infection)
    not_alert_shares = np.array([v.not_alert_shares[level] for level in NOT_ALERT])
    not_alert = rng.random(rows) < sigmoid(v.confusion_intercept + v.confusion_per_state * latent)
    consciousness = np.where(
        not_alert,
        NOT_ALERT[choose(rng, np.broadcast_to(not_alert_shares, (rows, len(NOT_ALERT))))],
        "A",
    )

    def clip(values: np.ndarray, spec, decimals: int = 0) -> np.ndarray:
        return np.round(np.clip(values, spec.minimum, spec.maximum), decimals)

    vitals = pd.DataFrame(
        {
            "observation_id": encounter_id[stay] * 1000 + k,
            "encounter_id": encounter_id[stay],
            "observed_at": at(plan, observed_h),
            "heart_rate": clip(sign(v.heart_rate), v.heart_rate).astype(np.int16),
            "respiratory_rate": clip(sign(v.respiratory_rate), v.respiratory_rate).astype(np.int16),
            "spo2": clip(spo2, v.spo2).astype(np.int16),
            "on_oxygen": on_oxygen,
            "temperature_c": clip(temperature, v.temperature_c, 1).astype(np.float32),
            "systolic_bp": clip(sign(v.systolic_bp), v.systolic_bp).astype(np.int16),
            "consciousness": consciousness.astype(object),
        }
    )
    window = ORACLE_WINDOW_HOURS // c.vitals_interval_hours
    before_event = (s.event_step[stay] < 0) | (k <= s.event_step[stay])
    remaining = s.n_steps[stay] - k
    steps = np.minimum(window, remaining)
    # a delayed stay's first step is the delayed chain's; from the second on, the usual one
    group = severity.chain_group(s.det_group[stay], s.delayed_antibiotics[stay] & (k == 0))
    chain_risk = severity.event_within(plan.chain, group, state, steps)
    drug_risk = medications.deterioration_within(s.harm, stay, k, steps)
    risk = 1.0 - (1.0 - chain_risk) * (1.0 - drug_risk)  # independent processes
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
    rows: LabRows,
    kept: np.ndarray,
    encounter_id: np.ndarray,
    admit_h: np.ndarray,
) -> pd.DataFrame:
    position = np.full(int(rows.stay.max()) + 1 if len(rows.stay) else 0, -1)
    position[kept] = np.arange(len(kept))
    mine = position[rows.stay] >= 0
    stay = position[rows.stay[mine]]
    frames = []
    for t, (test, (unit, loinc)) in enumerate(LAB_TESTS.items()):
        values = rows.values[test][mine]
        present = ~np.isnan(values)
        ordinal = rows.ordinal[mine][present]
        frames.append(
            pd.DataFrame(
                {
                    "lab_id": encounter_id[stay[present]] * 1000 + ordinal * len(LAB_TESTS) + t,
                    "encounter_id": encounter_id[stay[present]],
                    "drawn_at": at(plan, admit_h[stay[present]] + rows.drawn_h[mine][present]),
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
    s: Stays,
    encounter_id: np.ndarray,
    primary_dx: np.ndarray,
) -> pd.DataFrame:
    """Principal diagnosis, coded chronic conditions and acute secondary diagnoses of each stay."""
    c = plan.config
    n = len(encounter_id)
    stay_parts, code_parts, poa_parts = [np.arange(n)], [primary_dx], [np.ones(n, bool)]
    comorbid = patients.comorbid[s.patient]
    coded = comorbid & (rng.random(comorbid.shape) < c.population.comorbidity_coding_rate)
    stay, condition = np.nonzero(coded)
    pick = patients.code_choice[s.patient[stay], condition]
    codes = [c.comorbidities[j].codes for j in range(len(c.comorbidities))]
    stay_parts.append(stay)
    code_parts.append(
        np.array(
            [codes[j][p % len(codes[j])] for j, p in zip(condition, pick, strict=True)],
            dtype=object,
        )
    )
    poa_parts.append(np.ones(len(stay), bool))
    hb, na, creatinine = (s.admission_labs[:, i] for i in range(3))
    ckd = (
        comorbid[:, plan.comorbidity_names.index("ckd")]
        if "ckd" in plan.comorbidity_names
        else np.zeros(n, bool)
    )
    acute = [
        (HYPONATRAEMIA_CODE, (na < 133.0) & (rng.random(n) < 0.7), True),
        (ANAEMIA_CODE, (hb < 10.0) & (rng.random(n) < 0.6), True),
        (AKI_CODE, (creatinine > 2.0) & ~ckd & (rng.random(n) < 0.5), True),
        (COMPLICATION_CODE, s.complication, False),
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
    plan: WorldPlan, rng: np.random.Generator, s: Stays, encounter_id: np.ndarray
) -> pd.DataFrame:
    done = np.flatnonzero(s.procedure_slot > 0)
    group, slot = s.group[done], s.procedure_slot[done]
    performed_h = s.admit_h[done] + rng.uniform(0.05, 0.5, len(done)) * np.minimum(
        s.los_h[done], 48.0
    )
    return pd.DataFrame(
        {
            "procedure_id": encounter_id[done] * 10 + 1,
            "encounter_id": encounter_id[done],
            "code": plan.groups["procedure_code"][group, slot],
            "description": plan.groups["procedure_description"][group, slot],
            "performed_at": at(plan, performed_h),
        }
    )


def _ed_visits(
    plan: WorldPlan,
    rng: np.random.Generator,
    patients: Patients,
    s: Stays,
    encounter_id: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray]:
    """ED visits that led to these admissions and visits that did not; each stay's ED wait (h).
    Above ``crowding_occupancy``, the hospital's occupancy at arrival (from the first pass)
    lengthens the waits, and at the decision to admit the boarding."""
    c, ed = plan.config, plan.config.emergency_department
    admitted = np.flatnonzero(s.source == "emergency_department")
    years = plan.span_days / 365.25
    walk_in = np.repeat(np.arange(len(patients.index)), rng.poisson(patients.ed_rate * years))
    day = np.searchsorted(plan.walk_in_day_cdf, rng.random(len(walk_in)), side="right") - 1
    hour = choose(rng, hour_weights(plan, len(walk_in)))
    walk_in_h = day * HOURS_PER_DAY + hour + rng.random(len(walk_in))

    admit_h = s.admit_h[admitted]
    # Work-up to the decision to admit (at least an hour), then boarding until the bed is ready.
    workup_h = np.maximum(1.0, rng.lognormal(np.log(ed.workup_median_hours), 0.45, len(admitted)))
    board_u = rng.normal(0.0, ed.boarding_sigma, len(admitted))
    boarding_h = ed.boarding_median_hours * np.exp(
        board_u
        + ed.crowding_boarding_per_10_points * _crowding(plan, s.facility[admitted], admit_h)
    )
    decision_h = admit_h - boarding_h
    arrival_h = np.concatenate([decision_h - workup_h, walk_in_h])
    patient = np.concatenate([s.patient[admitted], walk_in])
    is_admitted = np.arange(len(patient)) < len(admitted)
    academic = academic_facility(c)
    home = rng.random(len(walk_in)) < c.utilisation.home_facility_share
    walk_in_facility = np.where(home, patients.home_facility[walk_in], academic)
    facility = np.concatenate([s.facility[admitted], walk_in_facility])
    # Triage level: the sicker the admitted patient, the more urgent; walk-ins mostly ESI 3-4.
    admitted_esi = np.round(3.2 - 0.8 * s.start_state[admitted] + rng.normal(0, 0.6, len(admitted)))
    walk_in_esi = 1 + choose(
        rng, np.broadcast_to(np.array(ed.walk_in_esi_shares), (len(walk_in), 5))
    )
    esi = np.clip(np.concatenate([admitted_esi, walk_in_esi]), 1, 5).astype(np.int64)

    month = (at(plan, arrival_h).astype("datetime64[M]").astype(np.int64) % 12) + 1
    winter = np.isin(month, (12, 1, 2))
    wait_median = (
        np.asarray(ed.wait_median_minutes_by_esi)[esi - 1]
        * np.array([f.ed_wait_multiplier for f in c.facilities])[facility]
        * np.exp(ed.crowding_wait_per_10_points * _crowding(plan, facility, arrival_h))
        * _provider_wait(plan, facility, arrival_h)
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
    decided_h = np.concatenate([decision_h, np.full(len(walk_in), np.nan)])
    # Admitted patients are seen before the decision to admit them, however long the queue.
    provider_h = np.where(is_admitted, np.minimum(provider_h, decided_h - 0.25), provider_h)
    triage_h = np.minimum(triage_h, provider_h)

    # Drop walk-in visits that fall inside a stay or after the patient's death.
    stays = pd.DataFrame(
        {
            "patient": s.patient,
            "start": s.admit_h - 12.0,
            "end": s.discharge_h,
            "died": s.died,
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
            "arrival_at": at(plan, arrival_h),
            "triage_at": at(plan, triage_h),
            "provider_at": pd.array(
                np.where(left, np.datetime64("NaT"), at(plan, provider_h)), dtype="datetime64[s]"
            ),
            "admit_decision_at": pd.array(
                np.where(is_admitted, at(plan, np.nan_to_num(decided_h)), np.datetime64("NaT")),
                dtype="datetime64[s]",
            ),
            "departure_at": at(plan, departure_h),
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
