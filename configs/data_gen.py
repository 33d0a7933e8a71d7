"""Typed schema of ``data_gen.yaml``: the synthetic hospital world and its causal model.

Every coefficient of the outcome equations in ``docs/world.md`` is a field here, so a reader can go
from an equation to the key that sets it. Ranges are deliberately generous but reject values that
would make the world meaningless (negative rates, probabilities above one, unknown names).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from configs.vocabulary import (
    ADVERSE_DRUG_EVENTS,
    CONSCIOUSNESS,
    DETERIORATION_EVENTS,
    DISPOSITIONS,
    DOSE_UNITS,
    FACILITY_TYPES,
    LAB_TESTS,
    MEDICATION_FREQUENCIES,
    MEDICATION_ROUTES,
    PAYERS,
    PROTOCOLS,
    RACES,
    UNITS,
    WARD_UNITS,
)

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Share = Annotated[float, Field(gt=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
LogOdds = Annotated[float, Field(ge=-10.0, le=10.0)]
ICD10CM = Annotated[str, Field(pattern=r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")]
ICD10PCS = Annotated[str, Field(pattern=r"^[0-9A-HJ-NP-Z]{7}$")]

SEVERITY_STATES = 5  # stable, mild, moderate, severe, critical
# MS-DRG relative weights of one DRG family: without a CC or MCC, with a CC, with an MCC.
DrgWeights = tuple[Positive, Positive, Positive]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Population(Strict):
    age_min: Annotated[int, Field(ge=18, le=60)]
    age_max: Annotated[int, Field(ge=70, le=110)]
    age_beta: tuple[Positive, Positive]
    female_share: Probability
    race_shares: dict[Literal[RACES], Share]
    hispanic_share: Probability
    payer_shares_under_65: dict[Literal[PAYERS], Share]
    payer_shares_65_plus: dict[Literal[PAYERS], Share]
    frailty_per_decade: float
    comorbidity_frailty: float
    state: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    phone_area_codes: Annotated[
        list[Annotated[str, Field(pattern=r"^[2-9][0-9]{2}$")]], Field(min_length=1)
    ]
    comorbidity_coding_rate: Probability


class Utilisation(Strict):
    unplanned_admissions_per_year: Positive
    elective_admissions_per_year: Positive
    ed_visits_per_year: Positive
    age_per_decade: float
    charlson: float
    frailty: float
    ed_frailty: float
    ed_payer: dict[Literal[PAYERS], float]
    home_facility_share: Probability
    urgent_share: Probability
    urgent_transfer_share: Probability
    arrival_by_hour: Annotated[list[NonNegative], Field(min_length=24, max_length=24)]
    arrival_by_weekday: Annotated[list[Positive], Field(min_length=7, max_length=7)]
    elective_arrival_hours: tuple[
        Annotated[float, Field(ge=0.0, le=24.0)], Annotated[float, Field(ge=0.0, le=24.0)]
    ]

    @model_validator(mode="after")
    def _hours_ordered(self) -> Utilisation:
        if self.elective_arrival_hours[0] >= self.elective_arrival_hours[1]:
            raise ValueError("elective_arrival_hours: the window must start before it ends")
        if sum(self.arrival_by_hour) <= 0:
            raise ValueError("arrival_by_hour: at least one hour must have arrivals")
        return self


class Facility(Strict):
    name: str
    type: Literal[FACILITY_TYPES]
    region: str
    zip3: list[Annotated[str, Field(pattern=r"^\d{3}$")]]
    patient_share: Share
    cost_index: Annotated[float, Field(ge=0.5, le=2.0)]
    los_multiplier: Annotated[float, Field(ge=0.5, le=2.0)]
    ed_wait_multiplier: Annotated[float, Field(ge=0.2, le=5.0)]
    satisfaction_shift: Annotated[float, Field(ge=-3.0, le=3.0)]
    readmit_log_odds: Annotated[float, Field(ge=-2.0, le=2.0)]


class Capacity(Strict):
    target_bed_utilisation: Annotated[float, Field(gt=0.2, lt=1.0)]
    target_icu_utilisation: Annotated[float, Field(gt=0.2, lt=1.0)]


LabShifts = dict[Literal[LAB_TESTS], float]


class Comorbidity(Strict):
    name: str
    codes: list[ICD10CM]
    lab_shifts: LabShifts = Field(default_factory=dict)
    prevalence_at_65: Annotated[float, Field(gt=0.0, lt=1.0)]
    odds_ratio_per_decade: Positive
    charlson_weight: Literal[0, 1, 2, 3, 6]
    supersedes: str | None = None


class Procedure(Strict):
    code: ICD10PCS
    description: str
    probability: Probability
    cost_usd: NonNegative
    complication_log_odds: LogOdds
    drg_weights: DrgWeights | None = None  # a surgical DRG family, when the procedure groups to one


class DiagnosisGroup(Strict):
    name: str
    codes: list[ICD10CM]
    share: Share
    elective: bool = False
    seasonal_amplitude: Annotated[float, Field(ge=0.0, le=0.95)] = 0.0
    los_days: Annotated[float, Field(ge=0.5, le=30.0)]
    cost_base_usd: NonNegative
    drg_weights: DrgWeights  # the medical DRG family of the group (a procedure may override it)
    acuity: Annotated[float, Field(ge=-3.0, le=3.0)]
    deterioration: Annotated[float, Field(ge=-3.0, le=3.0)]
    readmit_log_odds: LogOdds
    success_log_odds: LogOdds = 0.0
    infection: bool = False
    oncology: bool = False
    unit: Literal[WARD_UNITS]  # the ward unit that nurses the group outside the ICU
    comorbidity_affinity: dict[str, Positive] = Field(default_factory=dict)
    lab_shifts: LabShifts = Field(default_factory=dict)
    procedures: list[Procedure] = Field(default_factory=list)

    @model_validator(mode="after")
    def _at_most_one_procedure(self) -> DiagnosisGroup:
        if sum(p.probability for p in self.procedures) > 1.0 + 1e-9:
            raise ValueError(
                "procedure probabilities must sum to at most 1 (one procedure per stay)"
            )
        return self


class Severity(Strict):
    """Latent severity: a Markov chain over five states, one step per vitals interval."""

    acuity_age_per_decade: float
    acuity_charlson: float
    acuity_frailty: float
    acuity_noise_sd: NonNegative
    state_thresholds: tuple[float, float, float, float]
    group_age_per_decade: float
    group_charlson: float
    group_frailty: float
    group_noise_sd: NonNegative
    group_thresholds: tuple[float, float]
    up_probability: tuple[Probability, Probability, Probability]
    down_probability: tuple[Probability, Probability, Probability]
    event_hazard: tuple[Probability, Probability, Probability, Probability, Probability]
    death_share: tuple[Probability, Probability, Probability, Probability, Probability]
    icu_share: tuple[Probability, Probability, Probability, Probability, Probability]
    direct_icu_probability: tuple[Probability, Probability, Probability, Probability, Probability]
    icu_transfer_mean_days: Positive
    direct_icu_fraction: tuple[Probability, Probability]

    @model_validator(mode="after")
    def _chain_is_proper(self) -> Severity:
        for up, down in zip(self.up_probability, self.down_probability, strict=True):
            if up + down > 1.0:
                raise ValueError("up_probability + down_probability must not exceed 1 per group")
        if list(self.state_thresholds) != sorted(self.state_thresholds):
            raise ValueError("state_thresholds must be increasing")
        if list(self.group_thresholds) != sorted(self.group_thresholds):
            raise ValueError("group_thresholds must be increasing")
        return self


class LengthOfStay(Strict):
    sigma: Annotated[float, Field(gt=0.1, lt=1.5)]
    intercept: float
    age_per_decade: float
    charlson: float
    severity_state: float
    deterioration_group: float
    complication: float
    min_hours: Positive
    max_days: Positive


class Protocol(Strict):
    true_effect_log_odds: LogOdds
    cost_multiplier: Annotated[float, Field(ge=0.5, le=3.0)]
    los_multiplier: Annotated[float, Field(ge=0.5, le=2.0)]


ProtocolName = Literal[PROTOCOLS]


class Treatment(Strict):
    protocols: dict[ProtocolName, Protocol]
    enhanced_intercept: float
    enhanced_lactate: float
    enhanced_emergent: float
    conservative_intercept: float
    conservative_age_per_decade: float
    success_intercept: float
    success_age_per_decade: float
    success_charlson: float
    success_severity_state: float

    @model_validator(mode="after")
    def _protocols_known(self) -> Treatment:
        if missing := {"standard", "enhanced", "conservative"} - set(self.protocols):
            raise ValueError(f"protocols must define {sorted(missing)}")
        if self.protocols["standard"].true_effect_log_odds != 0.0:
            raise ValueError(
                "standard is the reference protocol: its true_effect_log_odds must be 0"
            )
        return self


class Complication(Strict):
    intercept: float
    age_per_decade: float
    charlson: float
    severity_state: float


class Readmission(Strict):
    intercept: float
    age_per_decade: float
    charlson: float
    charlson_cap: Annotated[int, Field(ge=1, le=30)]
    log_los_days: float
    emergent: float
    frailty: float
    low_haemoglobin: float
    low_sodium: float
    oncology: float
    procedure: float
    complication: float
    payer: dict[Literal[PAYERS], float]
    disposition: dict[Literal[DISPOSITIONS], float]
    protocol: dict[ProtocolName, float]
    gap_weibull_shape: Positive
    gap_weibull_scale_days: Positive
    max_gap_days: Annotated[int, Field(ge=30, le=365)]
    same_group_share: Probability


class Disposition(Strict):
    """Multinomial logits against ``home``: intercept, per decade over 65, per log-day of stay."""

    intercept: dict[Literal[DISPOSITIONS], float]
    age_per_decade: dict[Literal[DISPOSITIONS], float]
    log_los_days: dict[Literal[DISPOSITIONS], float]
    frailty: dict[Literal[DISPOSITIONS], float]


class Cost(Strict):
    scale: Positive
    per_diem_ward_usd: NonNegative
    per_diem_icu_usd: NonNegative
    complication_usd: NonNegative
    sigma: Annotated[float, Field(ge=0.0, le=1.0)]


class Finance(Strict):
    """Charges, the payers' contracts, denials and self-pay collection (docs/world.md "Payment")."""

    charge_to_cost_ratio: Annotated[float, Field(ge=1.0, le=20.0)]
    charge_sigma: Annotated[float, Field(ge=0.0, le=1.0)]
    medicare_base_rate_usd: Positive
    price_level: Positive
    medicare_multiplier: dict[Literal["academic", "community"], Positive]
    critical_access_cost_share: Positive
    medicaid_share_of_medicare: Positive
    commercial_share_of_charges: Share
    self_pay_share_of_charges: Share
    self_pay_paid_probability: Probability
    denial_rate: dict[Literal[PAYERS], Probability]
    denial_recovered_share: Probability
    billing_lag_days: Positive
    cc_codes: list[ICD10CM]
    mcc_codes: list[ICD10CM]
    deterioration_mcc_probability: Probability
    acute_mcc_intercept: LogOdds
    acute_mcc_per_state: Annotated[float, Field(ge=0.0, le=5.0)]

    @model_validator(mode="after")
    def _every_payer_and_one_tier(self) -> Finance:
        if missing := set(PAYERS) - set(self.denial_rate):
            raise ValueError(f"denial_rate: no rate for payers {sorted(missing)}")
        if missing := {"academic", "community"} - set(self.medicare_multiplier):
            raise ValueError(f"medicare_multiplier: no multiplier for {sorted(missing)} hospitals")
        if both := sorted(set(self.cc_codes) & set(self.mcc_codes)):
            raise ValueError(f"codes listed both as CC and as MCC: {both}")
        return self


Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
Hours = Annotated[float, Field(ge=0.0, le=24.0 * 30)]
Days = Annotated[float, Field(ge=0.0, le=60.0)]


class Drug(Strict):
    """One formulary entry: what the orders of the drug record, and what it is (its classes)."""

    rxcui: Annotated[str, Field(pattern=r"^[0-9]{1,8}$")]
    classes: Annotated[list[Name], Field(min_length=1)]
    route: Literal[MEDICATION_ROUTES]
    unit: Literal[DOSE_UNITS]
    doses: Annotated[list[Positive], Field(min_length=1)]
    frequency: Literal[MEDICATION_FREQUENCIES]
    max_dose: Positive

    @model_validator(mode="after")
    def _doses_credible(self) -> Drug:
        if max(self.doses) > self.max_dose:
            raise ValueError(f"doses {self.doses} exceed max_dose {self.max_dose}")
        return self


class HomeRule(Strict):
    condition: Name  # a comorbidity, or ``any``
    probability: Probability  # at age 65
    odds_ratio_per_decade: Positive = 1.0
    drugs: Annotated[dict[Name, Positive], Field(min_length=1)]  # choice weights


class Hold(Strict):
    groups: Annotated[list[Name], Field(min_length=1)]
    classes: Annotated[list[Name], Field(min_length=1)]
    probability: Probability


class InpatientRule(Strict):
    groups: Annotated[list[Name], Field(min_length=1)]  # diagnosis groups, ``all`` or ``surgical``
    probability: Probability
    conditions: dict[Name, Positive] = Field(default_factory=dict)  # odds ratios
    odds_ratio_per_decade: Positive = 1.0
    drugs: Annotated[dict[Name, Positive], Field(min_length=1)]
    start_hours: tuple[Hours, Hours]
    days: tuple[Days, Days] | None = None  # None: until discharge
    not_with: list[Name] = Field(default_factory=list)  # classes that rule the order out
    not_in: list[Name] = Field(default_factory=list)  # diagnosis groups that never get it

    @model_validator(mode="after")
    def _windows_ordered(self) -> InpatientRule:
        if self.start_hours[0] > self.start_hours[1]:
            raise ValueError(
                f"start_hours {self.start_hours}: the first must not exceed the second"
            )
        if self.days is not None and not 0 < self.days[0] <= self.days[1]:
            raise ValueError(f"days {self.days}: need 0 < first <= second")
        return self


class AdverseEvent(Strict):
    """One kind of adverse drug event: its chance per interval, and what it does (docs/world.md)."""

    daily_probability: Annotated[float, Field(gt=0.0, lt=0.5)]
    age_per_decade: Annotated[float, Field(ge=-2.0, le=2.0)]
    comorbidities: dict[Name, LogOdds] = Field(default_factory=dict)
    drugs: dict[Name, LogOdds] = Field(default_factory=dict)  # a class or a drug
    interactions: list[tuple[Name, Name, LogOdds]] = Field(default_factory=list)
    extra_days: Days
    cost_usd: NonNegative
    readmit_log_odds: LogOdds
    events: dict[Literal[DETERIORATION_EVENTS], Probability]
    code: ICD10CM
    coded: Probability

    @model_validator(mode="after")
    def _event_chance(self) -> AdverseEvent:
        if sum(self.events.values()) > 1.0:
            raise ValueError(f"events {self.events}: the chances add up to more than 1")
        return self


class AntibioticTiming(Strict):
    """Time to the first antibiotic dose in infections: a confounded choice with a known effect,
    for the efficacy study (docs/world.md)."""

    groups: Annotated[dict[Name, LogOdds], Field(min_length=1)]  # log-odds of meeting the bundle
    lactate: LogOdds  # per mmol/L of admission lactate above 1: sicker patients treated sooner
    emergency_arrival: LogOdds  # arriving through the emergency department (sepsis screening)
    bundle_hours: Hours  # the first dose within this many hours of admission meets the bundle
    early_hours: tuple[Hours, Hours]  # the antibiotics' first doses when the bundle is met
    late_hours: tuple[Hours, Hours]  # and when it is not
    late_up_probability: Probability  # the true effect: extra chance of worsening in step one

    @model_validator(mode="after")
    def _windows_either_side(self) -> AntibioticTiming:
        early, late = self.early_hours, self.late_hours
        if not early[0] <= early[1] <= self.bundle_hours <= late[0] <= late[1]:
            raise ValueError(
                f"early_hours {early}, bundle_hours {self.bundle_hours} and late_hours {late}"
                " must follow one another"
            )
        return self


class Medications(Strict):
    formulary: Annotated[dict[Name, Drug], Field(min_length=1)]
    home: list[HomeRule]
    continued_share: Probability
    reconciliation_hours: tuple[Hours, Hours]
    not_administered: Probability
    holds: list[Hold]
    inpatient: list[InpatientRule]
    adverse_events: dict[Literal[ADVERSE_DRUG_EVENTS], AdverseEvent]
    antibiotic_timing: AntibioticTiming

    @property
    def classes(self) -> set[str]:
        return {c for drug in self.formulary.values() for c in drug.classes}

    def unknown_names(self, comorbidities: set[str], groups: set[str]) -> list[str]:
        """Every drug, class, condition or group a rule names that the world does not have."""
        drugs, classes = set(self.formulary), self.classes
        if overlap := drugs & classes:
            return [f"names both a drug and a class: {sorted(overlap)}"]
        problems = []

        def check(where: str, names: set[str], allowed: set[str]) -> None:
            if unknown := names - allowed:
                problems.append(f"{where}: unknown {sorted(unknown)}")

        for i, rule in enumerate(self.home):
            check(f"home[{i}].condition", {rule.condition}, comorbidities | {"any"})
            check(f"home[{i}].drugs", set(rule.drugs), drugs)
        for i, hold in enumerate(self.holds):
            check(f"holds[{i}].groups", set(hold.groups), groups)
            check(f"holds[{i}].classes", set(hold.classes), classes)
        for i, rule in enumerate(self.inpatient):
            check(f"inpatient[{i}].groups", set(rule.groups), groups | {"all", "surgical"})
            check(f"inpatient[{i}].conditions", set(rule.conditions), comorbidities)
            check(f"inpatient[{i}].drugs", set(rule.drugs), drugs)
            check(f"inpatient[{i}].not_with", set(rule.not_with), classes)
            check(f"inpatient[{i}].not_in", set(rule.not_in), groups)
        check("antibiotic_timing.groups", set(self.antibiotic_timing.groups), groups)
        if "antibiotic" not in classes:
            problems.append("antibiotic_timing: no drug of the formulary is an antibiotic")
        for name, event in self.adverse_events.items():
            where = f"adverse_events.{name}"
            check(f"{where}.comorbidities", set(event.comorbidities), comorbidities)
            check(f"{where}.drugs", set(event.drugs), drugs | classes)
            paired = {n for a, b, _ in event.interactions for n in (a, b)}
            check(f"{where}.interactions", paired, drugs | classes)
            for a, b, _ in event.interactions:
                if a != b and (shared := self.drugs_of(a) & self.drugs_of(b)):
                    problems.append(
                        f"{where}.interactions: {a} and {b} share {sorted(shared)}, so one drug"
                        " would make the pair"
                    )
        return problems

    def drugs_of(self, name: str) -> set[str]:
        """The drugs a class or drug name covers."""
        return {d for d, drug in self.formulary.items() if name == d or name in drug.classes}


class EmergencyDepartment(Strict):
    triage_median_minutes: Positive
    wait_median_minutes_by_esi: tuple[Positive, Positive, Positive, Positive, Positive]
    wait_sigma: Positive
    winter_wait_multiplier: Annotated[float, Field(ge=1.0, le=3.0)]
    crowding_occupancy: Annotated[float, Field(gt=0.3, lt=1.2)]
    crowding_max_occupancy: Annotated[float, Field(gt=0.3, le=3.0)]
    crowding_wait_per_10_points: NonNegative
    patience_min_minutes: NonNegative
    patience_mean_minutes: Positive
    treatment_median_hours: Positive
    workup_median_hours: Positive
    boarding_median_hours: Positive
    boarding_sigma: Positive
    crowding_boarding_per_10_points: NonNegative
    walk_in_esi_shares: tuple[Probability, Probability, Probability, Probability, Probability]
    provider_shift_start_hours: Annotated[
        list[Annotated[int, Field(ge=0, le=23)]], Field(min_length=1)
    ]
    patients_per_provider_hour: Positive
    provider_load_wait: NonNegative

    @model_validator(mode="after")
    def _shifts_in_order(self) -> EmergencyDepartment:
        starts = self.provider_shift_start_hours
        if starts != sorted(set(starts)):
            raise ValueError(f"provider_shift_start_hours must rise through the day: {starts}")
        return self


NURSE_RATES = ("staff", "float", "overtime", "agency")  # how a nurse comes, each with its pay


def require_every_unit_and_rate(ratios: dict[str, float], rates: dict[str, float]) -> None:
    """A ratio for every unit and an hourly rate for every way a nurse comes, or a ValueError
    naming what is missing."""
    if missing := set(UNITS) - set(ratios):
        raise ValueError(f"safe_patients_per_nurse: no ratio for the units {sorted(missing)}")
    if missing := set(NURSE_RATES) - set(rates):
        raise ValueError(f"hourly_usd: no rate for {sorted(missing)}")


class NurseStaffing(Strict):
    day_shift_start_hour: Annotated[int, Field(ge=0, le=11)]
    safe_patients_per_nurse: dict[Literal[UNITS], Annotated[float, Field(ge=1.0, le=12.0)]]
    unit_min_nurses: NonNegative
    budget_cushion: Annotated[float, Field(ge=0.5, le=2.0)]
    sick_call_rate: Annotated[float, Field(ge=0.0, lt=0.5)]
    float_fill: Probability
    overtime_fill: Probability
    agency_fill: Probability
    hourly_usd: dict[Literal[NURSE_RATES], Positive]
    event_odds_ratio_per_patient: Annotated[float, Field(ge=1.0, le=2.0)]
    death_odds_ratio_per_patient: Annotated[float, Field(ge=1.0, le=2.0)]

    @model_validator(mode="after")
    def _every_unit(self) -> NurseStaffing:
        require_every_unit_and_rate(self.safe_patients_per_nurse, self.hourly_usd)
        return self


class VitalSign(Strict):
    """Value = baseline + per_state * latent severity + noise, clipped to [minimum, maximum]."""

    baseline: float
    per_state: float
    noise_sd: NonNegative
    minimum: float
    maximum: float


class Vitals(Strict):
    latent_noise_sd: NonNegative
    heart_rate: VitalSign
    respiratory_rate: VitalSign
    spo2: VitalSign
    temperature_c: VitalSign
    systolic_bp: VitalSign
    fever_per_state: float
    copd_spo2_shift: float
    oxygen_spo2_threshold: float
    oxygen_spo2_gain: float
    confusion_intercept: float
    confusion_per_state: float
    not_alert_shares: dict[Literal[CONSCIOUSNESS[1:]], Probability]


class Labs(Strict):
    draw_interval_hours: Positive
    female_haemoglobin_shift: float
    haemoglobin: VitalSign
    sodium: VitalSign
    creatinine: VitalSign
    wbc: VitalSign
    lactate: VitalSign


class Satisfaction(Strict):
    response_rate: Probability
    baseline: float
    log_los_days: float
    complication: float
    long_ed_wait: float
    noise_sd: NonNegative


class CodingChange(Strict):
    """From a date on, principal and secondary codes that start with ``prefix`` are recorded as
    ``code``: a new coding rule, which changes the records but not the patients."""

    from_date: dt.date
    prefix: Annotated[str, Field(pattern=r"^[A-TV-Z][0-9][0-9A-Z.]{0,6}$")]
    code: ICD10CM


class Scenario(Strict):
    """What a named next period changes in the world."""

    description: str
    overrides: dict[str, Any] = Field(default_factory=dict)  # dotted data_gen keys and values
    diagnosis_share_multipliers: dict[str, Positive] = Field(default_factory=dict)
    comorbidity_prevalence_multiplier: Positive = 1.0
    recode: dict[str, ICD10CM] = Field(default_factory=dict)  # code prefix -> recorded code
    months: Annotated[int, Field(ge=1, le=36)] | None = None  # the period's length; None: months

    def length(self, period: NextPeriod) -> int:
        """The period's length in months under this scenario."""
        return self.months or period.months


class NextPeriod(Strict):
    months: Annotated[int, Field(ge=1, le=24)]
    warmup_months: Annotated[int, Field(ge=0, le=60)]
    seed_offset: Annotated[int, Field(ge=1)]
    scenarios: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], Scenario]

    @model_validator(mode="after")
    def _has_none(self) -> NextPeriod:
        if "none" not in self.scenarios:
            raise ValueError("scenarios must include 'none' (the same world, no shift)")
        return self


class DataGenConfig(Strict):
    seed: Annotated[int, Field(ge=0, lt=2**63)]
    n_patients: Annotated[int, Field(ge=100, le=5_000_000)]
    block_size: Annotated[int, Field(ge=100, le=200_000)]
    workers: Annotated[int, Field(ge=1, le=64)]
    start_date: dt.date
    months: Annotated[int, Field(ge=6, le=120)]
    vitals_interval_hours: Literal[1, 2, 3, 4, 6, 8, 12]  # divides 24, so 24 h is whole steps
    population: Population
    utilisation: Utilisation
    facilities: Annotated[list[Facility], Field(min_length=1, max_length=50)]
    capacity: Capacity
    comorbidities: list[Comorbidity]
    diagnoses: Annotated[list[DiagnosisGroup], Field(min_length=2)]
    severity: Severity
    length_of_stay: LengthOfStay
    treatment: Treatment
    complication: Complication
    readmission: Readmission
    disposition: Disposition
    cost: Cost
    finance: Finance
    medications: Medications
    emergency_department: EmergencyDepartment
    staffing: NurseStaffing
    vitals: Vitals
    labs: Labs
    satisfaction: Satisfaction
    coding_changes: list[CodingChange] = Field(default_factory=list)
    next_period: NextPeriod

    @model_validator(mode="after")
    def _names_resolve(self) -> DataGenConfig:
        comorbidities = {c.name for c in self.comorbidities}
        for c in self.comorbidities:
            if c.supersedes is not None and c.supersedes not in comorbidities:
                raise ValueError(f"comorbidity {c.name!r} supersedes unknown {c.supersedes!r}")
        for group in self.diagnoses:
            if unknown := set(group.comorbidity_affinity) - comorbidities:
                raise ValueError(
                    f"diagnosis group {group.name!r}: unknown comorbidities {sorted(unknown)}"
                )
        if not any(g.elective for g in self.diagnoses):
            raise ValueError("at least one diagnosis group must be elective")
        if all(g.elective for g in self.diagnoses):
            raise ValueError("at least one diagnosis group must be unplanned")
        if not any(f.type == "academic" for f in self.facilities):
            raise ValueError("at least one facility must be academic (the referral centre)")
        codes = [code for g in self.diagnoses for code in g.codes]
        if duplicated := sorted({code for code in codes if codes.count(code) > 1}):
            raise ValueError(f"principal-diagnosis codes in more than one group: {duplicated}")
        groups = {g.name for g in self.diagnoses}
        for name, scenario in self.next_period.scenarios.items():
            if unknown := set(scenario.diagnosis_share_multipliers) - groups:
                raise ValueError(f"scenario {name!r}: unknown diagnosis groups {sorted(unknown)}")
        if problems := self.medications.unknown_names(comorbidities, groups):
            raise ValueError("medications: " + "; ".join(problems))
        sev = self.severity
        worst = max(u + d for u, d in zip(sev.up_probability, sev.down_probability, strict=True))
        if worst + self.medications.antibiotic_timing.late_up_probability > 1.0:
            raise ValueError(
                "medications.antibiotic_timing.late_up_probability: with the severity chain's"
                " up and down probabilities it exceeds 1"
            )
        names = [g.name for g in self.diagnoses] + [c.name for c in self.comorbidities]
        if len(names) != len(set(names)):
            raise ValueError("diagnosis group and comorbidity names must be unique")
        return self

    @property
    def end_date(self) -> dt.date:
        """First day after the simulated span (where every next period starts)."""
        month = self.start_date.month - 1 + self.months
        return dt.date(self.start_date.year + month // 12, month % 12 + 1, self.start_date.day)
