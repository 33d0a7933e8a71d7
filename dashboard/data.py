"""What the dashboard reads, cached: the de-identified clean tables, the KPI tables computed from
them with the monitoring SQL, the champions and their test metrics from the MLflow registry, and
the latest ``make monitor`` run. Nothing here reads ``data/raw`` or ``data/oracle``.

Every loader raises ``MissingInputError`` with the command that makes the missing input, which the
pages show instead of a traceback.
"""

from __future__ import annotations

import argparse
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from statsmodels.tools.sm_exceptions import ConvergenceWarning

import registry
from configs import ConfigError, Settings, load_settings, vocabulary
from configs.serving import risk_band
from dashboard import analysis
from features import build, dictionary, scores
from monitoring import kpis

CLEAN_TABLES = (*kpis.SOURCE_TABLES, "diagnoses", "labs", "vitals")
READMISSION_WINDOWS_DAYS = (30, 60, 90)


class MissingInputError(RuntimeError):
    """An output of ``make train`` or ``make monitor`` that a page needs is not there."""


@dataclass(frozen=True)
class Inputs:
    """Where the dashboard reads from: a profile, ``key=value`` overrides and the data folder."""

    profile: str | None = None
    overrides: tuple[str, ...] = ()
    data_dir: str = "data"

    @classmethod
    def from_args(cls, args: list[str]) -> Inputs:
        """From the arguments after ``streamlit run dashboard/app.py --``."""
        parser = argparse.ArgumentParser(prog="dashboard", add_help=False)
        parser.add_argument("--profile", "-p", default=None)
        parser.add_argument("--data-dir", default="data")
        parser.add_argument("overrides", nargs="*")
        parsed = parser.parse_args(args)
        return cls(parsed.profile, tuple(parsed.overrides), parsed.data_dir)

    @property
    def clean_dir(self) -> Path:
        return Path(self.data_dir) / "clean"

    def settings(self) -> Settings:
        return _settings(self.profile, self.overrides)


@st.cache_resource(show_spinner=False)
def _settings(profile: str | None, overrides: tuple[str, ...]) -> Settings:
    try:
        return load_settings(profile, overrides)
    except ConfigError as error:
        raise MissingInputError(f"the configuration cannot be loaded: {error}") from None


def version(folder: Path) -> float:
    """When a folder's files (its tables' part files included) last changed (0 when it is
    missing): part of every cache key, so that a new ``make train`` or ``make monitor`` is picked
    up without a restart."""
    times = [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()]
    return max(times, default=0.0)


# --------------------------------------------------------------------------------------------
# The clean tables and what is computed from them


@st.cache_resource(show_spinner="Reading the clean tables ...", max_entries=2)
def clean_tables(inputs: Inputs, changed: float) -> dict[str, pd.DataFrame]:
    """The de-identified tables of ``data/clean`` (kept once in memory, never modified)."""
    del changed  # a cache key only
    folder = inputs.clean_dir
    missing = [name for name in CLEAN_TABLES if not (folder / f"{name}.parquet").exists()]
    if missing:
        raise MissingInputError(
            f"No clean tables in `{folder}` ({', '.join(missing)} missing): run `make train` first."
        )
    return {name: pd.read_parquet(folder / f"{name}.parquet") for name in CLEAN_TABLES}


def clean(inputs: Inputs) -> dict[str, pd.DataFrame]:
    return clean_tables(inputs, version(inputs.clean_dir))


@st.cache_data(show_spinner="Computing the KPI tables ...", max_entries=4)
def kpi_tables(inputs: Inputs, changed: float) -> dict[str, pd.DataFrame]:
    """The monitoring KPI tables (the same SQL as ``python -m monitoring kpis``, on DuckDB)."""
    del changed
    tables = clean(inputs)
    sources = {name: tables[name] for name in kpis.SOURCE_TABLES}
    return kpis.run_duckdb(sources | kpis.helper_tables(tables, inputs.settings().features))


def kpi(inputs: Inputs) -> dict[str, pd.DataFrame]:
    return kpi_tables(inputs, version(inputs.clean_dir))


def rows(table: pd.DataFrame, **labels: str) -> pd.DataFrame:
    """The rows of a KPI table with the given labels, every other label column at its total."""
    keep = np.ones(len(table), dtype=bool)
    for column in kpis.LABELS:
        if column in table.columns:
            keep &= (table[column] == labels.get(column, kpis.TOTAL)).to_numpy()
    return table[keep]


def by_month(
    table: pd.DataFrame, months: tuple[pd.Timestamp, pd.Timestamp], **labels: str
) -> pd.DataFrame:
    """A KPI table's monthly rows within ``months`` (first, last) for the given labels (every
    other label at its total)."""
    keep = np.ones(len(table), dtype=bool)
    for column in kpis.LABELS:
        if column in table.columns and column != "month":
            keep &= (table[column] == labels.get(column, kpis.TOTAL)).to_numpy()
    monthly = table[keep & (table["month"] != kpis.TOTAL).to_numpy()]
    monthly = monthly.assign(month=pd.to_datetime(monthly["month"]))
    first, last = months
    return monthly[monthly["month"].between(first, last)].sort_values("month")


def complete_months(inputs: Inputs, follow_up_days: int = 0) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last months whose figures by month of discharge are whole. The span's first
    month misses the stays admitted before it began (short stays only, beds filling up); after
    the month of the last admission, only the stays that ran past the span's end are left; and a
    month counts for an outcome within ``follow_up_days`` of discharge only when the records
    follow all of its discharges that long."""
    admitted = clean(inputs)["encounters"]["admitted_at"]
    first = admitted.min().to_period("M") + 1
    last = admitted.max().to_period("M")
    if follow_up_days:
        followed = admitted.max() - pd.Timedelta(days=follow_up_days)
        last = min(last, followed.to_period("M") - 1)
    return first.to_timestamp(), last.to_timestamp()


def total(table: pd.DataFrame, column: str, **labels: str) -> float:
    """One figure of a KPI table: its value in the row with these labels and totals elsewhere."""
    found = rows(table, **labels)
    if found.empty:
        raise MissingInputError(f"no row {labels or 'of totals'} in the KPI table")
    return float(found[column].iloc[0])


def facilities(inputs: Inputs) -> list[str]:
    """Facility names in the order of their identifiers (which fixes their chart colours)."""
    return clean(inputs)["facilities"].sort_values("facility_id")["name"].tolist()


@st.cache_data(show_spinner="Assembling the stays ...", max_entries=4)
def stay_table(inputs: Inputs, changed: float) -> pd.DataFrame:
    """One row per stay with what the patient and treatment analyses group by: facility, payer,
    sex, race, age band, diagnosis group, Charlson index, admission lactate, protocol, outcome,
    cost, and unplanned readmission within 30, 60 and 90 days (missing without full follow-up;
    only for stays ending alive and not in a transfer, as in the KPI table)."""
    del changed
    tables = clean(inputs)
    cases = build.admission_cases(tables, inputs.settings().features)
    e = tables["encounters"]
    patients = tables["patients"].set_index("patient_key")
    readmitted = build.readmission_labels(e, list(READMISSION_WINDOWS_DAYS), e["admitted_at"].max())
    charlson = scores.charlson_conditions(cases["comorbidity_codes"])["charlson_index"]
    facility = e["facility_id"].map(tables["facilities"].set_index("facility_id")["name"])
    return pd.DataFrame(
        {
            "patient_key": e["patient_key"].to_numpy(),
            "facility": facility.to_numpy(),
            "admitted_at": e["admitted_at"].to_numpy(),
            "discharge_month": e["discharged_at"].dt.to_period("M").dt.to_timestamp().to_numpy(),
            "sex": e["patient_key"].map(patients["sex"]).to_numpy(),
            "race": e["patient_key"].map(patients["race"]).to_numpy(),
            "payer": e["patient_key"].map(patients["payer"]).to_numpy(),
            "age_years": e["age_years"].to_numpy(),
            "age_band": build.age_bands(e["age_years"]).to_numpy(dtype=object),
            "emergent": (e["admission_type"] != "elective").to_numpy(dtype=float),
            "diagnosis_group": scores.diagnosis_group(e["primary_dx_code"].tolist()),
            "charlson_index": charlson,
            "admit_lactate": cases["admit_lactate"].to_numpy(),
            "protocol": e["treatment_protocol"].to_numpy(),
            "survived": (e["discharge_disposition"] != vocabulary.EXPIRED).to_numpy(),
            "treatment_success": e["treatment_success"].to_numpy(dtype=float),
            "complication": e["complication"].to_numpy(dtype=float),
            "total_cost_usd": e["total_cost_usd"].to_numpy(),
            **{
                f"readmitted_{w}d": readmitted[f"readmitted_{w}d"].to_numpy()
                for w in READMISSION_WINDOWS_DAYS
            },
        }
    )


def stays(inputs: Inputs) -> pd.DataFrame:
    return stay_table(inputs, version(inputs.clean_dir))


# --------------------------------------------------------------------------------------------
# The champions (MLflow registry) and the latest make monitor run


@st.cache_resource(show_spinner="Loading the champion models ...")
def champion(inputs: Inputs, task: str, changed: float) -> registry.Champion:
    """A task's champion from the MLflow registry."""
    del changed
    try:
        return registry.load_champion(inputs.settings(), task)
    except registry.ChampionNotFoundError as error:
        raise MissingInputError(f"{error}.") from None


def registry_version(inputs: Inputs) -> float:
    """When the tracking store last changed (a cache key for the champions)."""
    return registry.changed_at(inputs.settings())


@st.cache_data(show_spinner="Reading the champions' test metrics ...")
def champion_metrics(inputs: Inputs, changed: float) -> pd.DataFrame:
    """Per task: the champion's test metric with its interval, the clinical baselines and the
    generator's ceiling (the oracle), as logged by ``make train``. A baseline a task does not
    have is missing (NaN), never a figure."""
    del changed
    settings = inputs.settings()
    client = registry.connect(settings)
    records = []
    for task in settings.task_names:
        config = settings.tasks[task]
        try:
            model = registry.champion_version(settings, task)
        except registry.ChampionNotFoundError as error:
            raise MissingInputError(f"{error}.") from None
        metrics = client.get_run(model.run_id).data.metrics
        metric = config.metric
        lift = "auroc" if config.kind == "binary" else "r2"
        records.append(
            {
                "task": task,
                "title": config.title,
                "model": f"{registry.model_name(settings, task)} v{model.version}",
                "family": model.tags.get("family", ""),
                "metric": metric,
                "unit": config.unit,
                "champion": metrics.get(registry.metric_on_test(metric), np.nan),
                "champion_low": metrics.get(registry.metric_on_test(metric, "low"), np.nan),
                "champion_high": metrics.get(registry.metric_on_test(metric, "high"), np.nan),
                "baselines": {
                    b: metrics.get(registry.baseline_metric(b, metric), np.nan)
                    for b in config.baselines
                },
                "ceiling": metrics.get(registry.oracle_metric(metric), np.nan),
                "share of the ceiling's lift": metrics.get(registry.ceiling_fraction(lift), np.nan),
            }
        )
    return pd.DataFrame(records)


def latest_monitor_run(inputs: Inputs) -> Path:
    """The newest ``reports/<run>/`` that ``make monitor`` finished (it has a summary.md)."""
    reports = Path(inputs.settings().monitoring.reports_dir)
    summaries = sorted(reports.glob("*/summary.md"), key=lambda p: p.stat().st_mtime)
    if not summaries:
        raise MissingInputError(f"No monitoring run in `{reports}`: run `make monitor` first.")
    return summaries[-1].parent


def drift_summaries(run: Path) -> list[dict[str, Any]]:
    """The per-task summaries of a monitoring run, in the order they were written."""
    paths = sorted((run / "drift").glob("*.summary.json"))
    return [json.loads(path.read_text()) for path in paths]


@st.cache_data(show_spinner="Adjusting treatment success for severity ...")
def treatment_effects(
    inputs: Inputs, facility: str, changed: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``analysis.treatment_effects`` on the stays of one facility (or ``all``)."""
    del changed
    table = stays(inputs)
    if facility != kpis.TOTAL:
        table = table[table["facility"] == facility]
    return analysis.treatment_effects(table)


def risk_tasks(settings: Settings) -> list[str]:
    """The tasks whose champions give a risk (binary tasks): one risk list each."""
    return [task for task in settings.task_names if settings.tasks[task].kind == "binary"]


@st.cache_data(show_spinner="Scoring the current inpatients with the champions ...")
def risk_lists(
    inputs: Inputs, at: pd.Timestamp, changed: float, registry_changed: float
) -> dict[str, pd.DataFrame]:
    """Per risk task, the inpatients at ``at`` scored by its champion, highest risk first, with
    the risk band, the task's clinical score and the top reasons. Patients and stays appear by
    their pseudonyms only."""
    del changed
    settings = inputs.settings()
    current = analysis.current_cases(clean(inputs), settings.features, at)
    meanings = {
        row["column"]: row["meaning"]
        for row in dictionary.rows(settings)
        if row["role"] == "feature"
    }
    names = clean(inputs)["facilities"].set_index("facility_id")["name"]
    lists = {}
    for task in risk_tasks(settings):
        config = settings.tasks[task]
        stays_now, features = current[config.case]
        model = champion(inputs, task, registry_changed).model
        risk = np.asarray(model.predict(None, features[model.features]), dtype=float)
        order = np.argsort(-risk, kind="stable")
        stays_now, features, risk = stays_now.iloc[order], features.iloc[order], risk[order]
        scores_shown = [b for b in config.baselines if b in features.columns][:1]
        lists[task] = pd.DataFrame(
            {
                "patient": stays_now["patient_key"].str[:12].to_numpy(),
                "stay": stays_now["encounter_key"].str[:12].to_numpy(),
                "facility": stays_now["facility_id"].map(names).to_numpy(),
                "unit": stays_now["unit"].to_numpy(),
                "days in hospital": (
                    (at - stays_now["admitted_at"]).dt.total_seconds() / 86400
                ).to_numpy(),
                "risk": risk,
                "band": risk_band(risk, config.risk_bands),
                **{score: features[score].to_numpy() for score in scores_shown},
                "top reasons": analysis.top_reasons(
                    model, features, meanings, settings.dashboard.top_reasons
                ),
            }
        )
    return lists


@st.cache_data(show_spinner="Forecasting ...")
def budget_forecast(series: pd.Series, months: int, coverage: float) -> pd.DataFrame:
    """``analysis.budget_forecast``, cached by the series itself."""
    with warnings.catch_warnings():
        # A short series can leave the optimiser short of its tolerance; the fit still stands.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return analysis.budget_forecast(series, months, coverage)
