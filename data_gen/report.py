"""Calibration of the generated world against the brief's headline figures.

Pure functions over the raw tables, so that tests and ``python -m data_gen report`` measure the
same way. Targets and tolerances are those of the foundation issue and ../shared/CLINICAL.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from configs.data_gen import DataGenConfig

RESPIRATORY_PREFIXES = ("J09", "J10", "J11", "J12", "J13", "J14", "J15", "J16", "J17", "J18", "J44")
WINTER_MONTHS, SUMMER_MONTHS = (12, 1, 2), (6, 7, 8)
FOLLOW_UP_DAYS = 30


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    low: float
    high: float
    unit: str = "ratio"  # ratio, share, days, hours, minutes or USD

    @property
    def ok(self) -> bool:
        return self.low <= self.value <= self.high

    def show(self, value: float) -> str:
        if self.unit == "share":
            return f"{value:.1%}"
        if self.unit == "USD":
            return f"${value:,.0f}"
        if self.unit == "days":
            return f"{value:.2f} d"
        if self.unit in ("hours", "minutes"):
            return f"{value:.1f} {self.unit[0] if self.unit == 'hours' else 'min'}"
        return f"{value:.3f}"

    @property
    def target(self) -> str:
        if np.isinf(self.high):
            return f">= {self.show(self.low)}"
        if np.isinf(self.low):
            return f"<= {self.show(self.high)}"
        return f"{self.show(self.low)} to {self.show(self.high)}"


def load_raw(
    data_dir: Path, tables: tuple[str, ...] = ("facilities", "patients", "encounters")
) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(data_dir / "raw" / f"{name}.parquet") for name in tables}


def los_days(encounters: pd.DataFrame) -> pd.Series:
    return (encounters["discharged_at"] - encounters["admitted_at"]).dt.total_seconds() / 86400.0


def readmitted_within(encounters: pd.DataFrame, days: int) -> pd.Series:
    """For each stay: is the patient's next unplanned admission within `days` of discharge?"""
    ordered = encounters.sort_values(["patient_id", "admitted_at"])
    unplanned_admit = ordered["admitted_at"].where(ordered["admission_type"] != "elective")
    patient = ordered["patient_id"]
    next_unplanned = unplanned_admit.groupby(patient).shift(-1).groupby(patient).bfill()
    gap = (next_unplanned - ordered["discharged_at"]).dt.total_seconds() / 86400.0
    return (gap <= days).reindex(encounters.index)


def index_stays(
    encounters: pd.DataFrame, end: pd.Timestamp, follow_up_days: int = FOLLOW_UP_DAYS
) -> pd.Series:
    """Stays that count as index stays for readmission: alive at discharge, with full follow-up."""
    alive = encounters["discharge_disposition"] != "expired"
    followed = encounters["discharged_at"] <= end - pd.Timedelta(days=follow_up_days)
    return alive & followed


def bed_utilisation(
    encounters: pd.DataFrame, facilities: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> float:
    admitted = encounters["admitted_at"].clip(start, end)
    discharged = encounters["discharged_at"].clip(start, end)
    bed_days = (discharged - admitted).dt.total_seconds().sum() / 86400.0
    return bed_days / (facilities["staffed_beds"].sum() * (end - start).days)


def calibration(
    tables: dict[str, pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp
) -> list[Check]:
    """The headline figures of the world, each with its target range."""
    encounters = tables["encounters"].merge(
        tables["patients"][["patient_id", "payer"]], on="patient_id"
    )
    los = los_days(encounters)
    readmitted = readmitted_within(encounters, FOLLOW_UP_DAYS)
    index = index_stays(encounters, end)
    by_payer = readmitted[index].groupby(encounters.loc[index, "payer"]).mean()
    month = encounters["admitted_at"].dt.month
    respiratory = encounters["primary_dx_code"].str.startswith(RESPIRATORY_PREFIXES)
    winter = respiratory[month.isin(WINTER_MONTHS)].sum() / max(month.isin(WINTER_MONTHS).sum(), 1)
    summer = respiratory[month.isin(SUMMER_MONTHS)].sum() / max(month.isin(SUMMER_MONTHS).sum(), 1)
    return [
        Check("mean length of stay", los.mean(), 4.0, 4.4, "days"),
        Check("median / mean length of stay", los.median() / los.mean(), -np.inf, 0.999),
        Check("30-day unplanned readmission", readmitted[index].mean(), 0.11, 0.13, "share"),
        Check(
            "readmission, Medicare - commercial",
            by_payer.get("medicare", np.nan) - by_payer.get("commercial", np.nan),
            0.005,
            np.inf,
            "share",
        ),
        Check("treatment success", encounters["treatment_success"].mean(), 0.83, 0.87, "share"),
        Check(
            "mean cost per encounter", encounters["total_cost_usd"].mean(), 14_250, 15_750, "USD"
        ),
        Check(
            "bed utilisation",
            bed_utilisation(encounters, tables["facilities"], start, end),
            0.75,
            0.81,
            "share",
        ),
        Check(
            "in-hospital mortality",
            (encounters["discharge_disposition"] == "expired").mean(),
            0.015,
            0.03,
            "share",
        ),
        Check(
            "respiratory share, winter / summer",
            winter / max(summer, 1e-9),
            1.15,
            np.inf,
        ),
    ]


MED_SURG_UNITS = ("medicine", "surgery", "orthopedics", "oncology")


def operations(tables: dict[str, pd.DataFrame]) -> list[Check]:
    """Nursing and ED figures against published ranges (docs/world.md, Calibration): from the
    roster, the ED visits and providers and the oracle's census per shift (``oracle_staffing``)."""
    roster = tables["nurse_staffing"].merge(
        tables["oracle_staffing"], on=["facility_id", "unit", "shift_start"]
    )
    patient_days = roster["census"] * 0.5  # a 12-hour shift is half a day

    def hours_per_patient_day(units: tuple[str, ...]) -> float:
        rows = roster["unit"].isin(units)
        return roster.loc[rows, "rn_hours"].sum() / max(patient_days[rows].sum(), 1e-9)

    ed = tables["ed_visits"]
    door_to_provider = (ed["provider_at"] - ed["arrival_at"]).dt.total_seconds() / 60.0
    # Over the span the roster covers (visits before it are patients' history, not its load).
    first, last = roster["shift_start"].min().normalize(), roster["shift_start"].max().normalize()
    in_span = ed[(ed["arrival_at"] >= first) & (ed["arrival_at"] < last)]
    busiest = in_span["facility_id"].value_counts().idxmax()
    providers = tables["ed_providers"]
    provider_hours = providers.loc[providers["facility_id"] == busiest, "providers"].sum()
    span_days = (last - first).days
    admitted = ed[ed["disposition"] == "admitted"]
    boarding = (admitted["departure_at"] - admitted["admit_decision_at"]).dt.total_seconds()
    return [
        Check(
            "RN hours per patient day, med-surg",
            hours_per_patient_day(MED_SURG_UNITS),
            4.8,
            8.0,
            "hours",
        ),
        Check(
            "RN hours per patient day, ICU", hours_per_patient_day(("icu",)), 12.0, 20.0, "hours"
        ),
        Check(
            "shifts above the safe ratio",
            (roster["excess_patients_per_nurse"] > 0).mean(),
            0.05,
            0.25,
            "share",
        ),
        Check(
            "agency share of RN hours",
            roster["agency_rn"].sum() / max(roster["worked_rn"].sum(), 1),
            0.005,
            0.08,
            "share",
        ),
        Check("ED median door to provider", door_to_provider.median(), 14.0, 31.0, "minutes"),
        Check(
            "left without being seen",
            (ed["disposition"] == "left_without_being_seen").mean(),
            0.01,
            0.05,
            "share",
        ),
        Check("ED boarding, median", boarding.median() / 3600.0, 1.0, 4.0, "hours"),
        Check(
            "arrivals per provider-hour, busiest ED",
            (in_span["facility_id"] == busiest).sum() / max(span_days * provider_hours, 1e-9),
            0.6,
            2.5,
            "patients",
        ),
    ]


def finance(tables: dict[str, pd.DataFrame]) -> list[Check]:
    """Payment figures against published ones (docs/world.md, Calibration): from the claims, the
    stays' costs and the facilities' types."""
    claims = tables["claims"].merge(
        tables["encounters"][["encounter_id", "facility_id", "total_cost_usd"]], on="encounter_id"
    )
    kind = claims["facility_id"].map(tables["facilities"].set_index("facility_id")["type"])
    by_payer = claims.groupby("payer")[["paid_usd", "total_cost_usd"]].sum()
    paid_to_cost = by_payer["paid_usd"] / by_payer["total_cost_usd"]
    ipps_medicare = claims[(claims["payer"] == "medicare") & (kind != "critical_access")]
    paid, cost = claims["paid_usd"].sum(), claims["total_cost_usd"].sum()
    return [
        Check("Medicare payment / cost", paid_to_cost.get("medicare", np.nan), 0.75, 0.95),
        Check(
            "commercial / Medicare payment per dollar of cost",
            paid_to_cost.get("commercial", np.nan) / paid_to_cost.get("medicare", np.nan),
            1.8,
            3.0,
        ),
        Check("system margin", (paid - cost) / max(paid, 1e-9), 0.0, 0.10, "share"),
        Check("Medicare share of stays", (claims["payer"] == "medicare").mean(), 0.4, 0.6, "share"),
        Check("claims first denied", claims["initially_denied"].mean(), 0.06, 0.15, "share"),
        Check("Medicare case-mix index, IPPS", ipps_medicare["drg_weight"].mean(), 1.1, 2.0),
    ]


def medications(tables: dict[str, pd.DataFrame], config: DataGenConfig) -> list[Check]:
    """Medicines and their harm against published figures (docs/world.md, Calibration): from the
    patients (with the oracle's home lists), the stays, the oracle's adverse drug events and its
    record of which infections had their antibiotics after the bundle's hours."""
    patients = tables["patients"].merge(tables["oracle_patients"], on="patient_id")
    start = pd.Timestamp(config.start_date)
    age = (start - pd.to_datetime(patients["birth_date"])).dt.days / 365.25
    home = patients.loc[age >= 65, "home_medicines"]
    events = tables["oracle_adverse_drug_events"]
    stays = len(tables["encounters"])
    sepsis = next(g for g in config.diagnoses if g.name == "sepsis").codes
    septic = tables["encounters"].loc[
        tables["encounters"]["primary_dx_code"].isin(sepsis), "encounter_id"
    ]
    oracle = tables["oracle_encounters"]
    delayed = oracle.loc[oracle["encounter_id"].isin(septic), "antibiotics_delayed"]
    hours = config.medications.antibiotic_timing.bundle_hours
    return [
        Check(
            f"sepsis: first antibiotic within {hours:g} h",
            1.0 - delayed.mean() if len(delayed) else np.nan,
            0.65,
            0.90,
            "share",
        ),
        Check("five or more medicines, aged 65 and over", (home >= 5).mean(), 0.30, 0.48, "share"),
        Check("adverse drug events per stay", len(events) / max(stays, 1), 0.02, 0.08, "share"),
        Check(
            "adverse drug events put down to an interaction",
            (events["cause"] == "interaction").mean() if len(events) else np.nan,
            0.05,
            0.30,
            "share",
        ),
    ]


CHECK_TITLES = {
    "headline": "Calibration against the brief's targets",
    "operations": "Nursing and the ED against published figures",
    "finance": "Payment against published figures",
    "medications": "Medicines and their harm against published figures",
}


def world_checks(data_dir: Path, config: DataGenConfig) -> dict[str, list[Check]]:
    """Every calibration check of a generated world, by theme (``CHECK_TITLES``), from its raw
    and oracle tables."""

    def oracle(stem: str) -> pd.DataFrame:
        return pd.read_parquet(data_dir / "oracle" / f"{stem}.parquet")

    span = pd.Timestamp(config.start_date), pd.Timestamp(config.end_date)
    staffing = load_raw(data_dir, ("nurse_staffing", "ed_visits", "ed_providers"))
    medicines = load_raw(data_dir, ("patients", "encounters"))
    for stem in ("patients", "adverse_drug_events", "encounters"):
        medicines[f"oracle_{stem}"] = oracle(stem)
    return {
        "headline": calibration(load_raw(data_dir), *span),
        "operations": operations({**staffing, "oracle_staffing": oracle("staffing")}),
        "finance": finance(load_raw(data_dir, ("facilities", "encounters", "claims"))),
        "medications": medications(medicines, config),
    }


def diagnosis_shares(encounters: pd.DataFrame, config: DataGenConfig) -> pd.DataFrame:
    """Share of each principal-diagnosis group among admissions of its kind, against its target."""
    rows = []
    for elective in (False, True):
        groups = [g for g in config.diagnoses if g.elective == elective]
        kind = encounters["admission_type"].eq("elective") == elective
        codes = encounters.loc[kind, "primary_dx_code"]
        total = sum(g.share for g in groups)
        rows += [
            {
                "group": g.name,
                "kind": "elective" if elective else "unplanned",
                "share": codes.isin(g.codes).mean() if len(codes) else np.nan,
                "target": g.share / total,
            }
            for g in groups
        ]
    return pd.DataFrame(rows)
