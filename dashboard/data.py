"""What the dashboard reads, cached: the de-identified clean tables, the KPI tables computed from
them with the monitoring SQL, the champions and their test metrics from the MLflow registry, and
the latest ``make monitor`` run, and the prospective period ``make decisions`` judges the champions
on (its feature tables carry the world's truth, as the training tables do). Nothing here reads
``data/raw`` or ``data/oracle``.

Every loader raises ``MissingInputError`` with the command that makes the missing input, which the
pages show instead of a traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import mlflow
import numpy as np
import pandas as pd
import streamlit as st

import decisions
import registry
from configs import ConfigError, Settings, load_settings
from configs.serving import risk_band
from dashboard import analysis
from decisions import DecisionError, programme, rapid_response
from features import census, dictionary, engine, interactions, partitions
from finance import FinanceError, forecast, readmissions
from monitoring import kpis
from operations import journeys, staffing
from pharmacy import PharmacyError, efficacy
from pharmacy import alerts as alerting

# Every clean table a page reads; only the stays and the facilities are held whole, the others
# a partition at a time.
CLEAN_TABLES = (*kpis.SOURCE_TABLES, "diagnoses", "labs", "vitals")
WHOLE_TABLES = ("encounters", "facilities")
T = TypeVar("T")


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
    """The stays and facilities of ``data/clean`` (kept once in memory, never modified)."""
    del changed  # a cache key only
    _require_clean(inputs.clean_dir)
    return {name: pd.read_parquet(inputs.clean_dir / f"{name}.parquet") for name in WHOLE_TABLES}


def _require_clean(folder: Path) -> None:
    missing = [name for name in CLEAN_TABLES if not (folder / f"{name}.parquet").exists()]
    if missing:
        raise MissingInputError(
            f"No clean tables in `{folder}` ({', '.join(missing)} missing): run `make train` first."
        )


def _on_partitions(inputs: Inputs, work: Callable[[dict[str, pd.DataFrame]], T]) -> list[T]:
    """``work`` on every partition of the clean tables (a patient's whole history is in one), on
    the engine: in this process for a world of one partition."""
    _require_clean(inputs.clean_dir)
    folder = inputs.clean_dir.resolve()
    count = partitions.part_count(folder / "encounters.parquet")
    on_part = functools.partial(_work_on_part, folder, work)
    try:
        return engine.map_partitions(
            on_part, list(range(count)), inputs.settings().engine, "dashboard"
        )
    except engine.EngineError as error:
        raise MissingInputError(f"the engine could not read the clean tables: {error}") from None


def _work_on_part(folder: Path, work: Callable[[dict[str, pd.DataFrame]], T], part: int) -> T:
    return work(partitions.read_part(folder, part))


def clean(inputs: Inputs) -> dict[str, pd.DataFrame]:
    return clean_tables(inputs, version(inputs.clean_dir))


@st.cache_data(show_spinner="Computing the KPI tables ...", max_entries=4)
def kpi_tables(inputs: Inputs, changed: float) -> dict[str, pd.DataFrame]:
    """The monitoring KPI tables (the same SQL as ``python -m monitoring kpis``, on DuckDB)."""
    del changed
    _require_clean(inputs.clean_dir)
    return kpis.run_duckdb(kpis.load_tables(inputs.clean_dir, inputs.settings()))


def kpi(inputs: Inputs) -> dict[str, pd.DataFrame]:
    return kpi_tables(inputs, version(inputs.clean_dir))


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
    found = kpis.rows(table, **labels)
    if found.empty:
        raise MissingInputError(f"no row {labels or 'of totals'} in the KPI table")
    return float(found[column].iloc[0])


def facilities(inputs: Inputs) -> list[str]:
    """Facility names in the order of their identifiers (which fixes their chart colours)."""
    return clean(inputs)["facilities"].sort_values("facility_id")["name"].tolist()


@st.cache_data(show_spinner="Assembling the stays ...", max_entries=4)
def stay_table(inputs: Inputs, changed: float) -> pd.DataFrame:
    """``analysis.stay_rows`` of every stay, partition by partition."""
    del changed
    data_end = clean(inputs)["encounters"]["admitted_at"].max()
    work = functools.partial(
        analysis.stay_rows, config=inputs.settings().features, data_end=data_end
    )
    return pd.concat(_on_partitions(inputs, work), ignore_index=True)


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
                "ceiling_share": metrics.get(registry.ceiling_fraction(lift), np.nan),
                "ceiling_share_low": metrics.get(registry.ceiling_fraction(lift, "low"), np.nan),
                "ceiling_share_high": metrics.get(registry.ceiling_fraction(lift, "high"), np.nan),
            }
        )
    return pd.DataFrame(records)


@st.cache_data(show_spinner="Following the patients' journeys ...", max_entries=2)
def journey_table(inputs: Inputs, changed: float) -> pd.DataFrame:
    """``operations.journeys.stages`` of every stay with 30 days of follow-up, with its facility's
    name."""
    del changed
    tables = clean(inputs)
    stays = tables["encounters"]
    by_stay = journeys.stages(stays)
    names = tables["facilities"].set_index("facility_id")["name"]
    return by_stay.assign(facility=stays.loc[by_stay.index, "facility_id"].map(names).to_numpy())


def journey_stages(inputs: Inputs) -> pd.DataFrame:
    return journey_table(inputs, version(inputs.clean_dir))


OPERATIONS_TABLES = {  # name: (path under operations.tables_dir, its time columns)
    "backtest": ("forecast/backtest.csv", ["origin", "date"]),
    "forecast": ("forecast/forecast.csv", ["date"]),
    "evaluation": ("evaluation/summary.csv", []),
}


@st.cache_data(show_spinner="Reading the operations tables ...", max_entries=2)
def operations_tables(inputs: Inputs, changed: float) -> dict[str, pd.DataFrame]:
    """What ``make operations`` leaves: the forecast's backtest and the days ahead, and the
    staffing plans judged against the roster."""
    del changed
    folder = Path(inputs.settings().operations.tables_dir)
    missing = [path for path, _ in OPERATIONS_TABLES.values() if not (folder / path).exists()]
    if missing:
        raise MissingInputError(f"No operations tables in `{folder}`: run `make operations` first.")
    return {
        name: pd.read_csv(folder / path, parse_dates=times, dtype={"facility": str})
        for name, (path, times) in OPERATIONS_TABLES.items()
    }


def operations(inputs: Inputs) -> dict[str, pd.DataFrame]:
    return operations_tables(inputs, version(Path(inputs.settings().operations.tables_dir)))


@st.cache_data(show_spinner="Counting the census of every shift ...", max_entries=2)
def shift_census_table(inputs: Inputs, changed: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The nurse roster and the census of every unit and shift, from the clean tables."""
    del changed
    _require_clean(inputs.clean_dir)
    roster = pd.read_parquet(inputs.clean_dir / "nurse_staffing.parquet")
    stays = clean(inputs)["encounters"][list(census.STAY_COLUMNS)]
    return roster, census.shift_census(stays, roster)


def shift_census(inputs: Inputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    return shift_census_table(inputs, version(inputs.clean_dir))


@st.cache_data(show_spinner="Planning the nurse staffing ...", max_entries=16)
def staffing_plan(
    inputs: Inputs, changed: float, facility_id: int, start: pd.Timestamp, quantile: float
) -> staffing.Plan:
    """A facility's staffing plan from ``start`` for the ``quantile`` of the forecast census
    (``operations.staffing.plan_facility``, whose ``PlanError`` says why there is none)."""
    del changed
    roster, by_shift = shift_census(inputs)
    config = inputs.settings().operations.with_census_quantile(quantile)
    return staffing.plan_facility(by_shift, roster, facility_id, start, config)


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
    work = functools.partial(
        analysis.current_cases,
        config=settings.features,
        kb=interactions.KnowledgeBase.of(settings),
        at=at,
    )
    current = analysis.combine_cases(_on_partitions(inputs, work))
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


@dataclass(frozen=True)
class Penalty:
    """The HRRP ratios per condition and facility (named), and each facility's penalty."""

    ratios: pd.DataFrame
    penalties: pd.DataFrame


@st.cache_data(show_spinner="Measuring excess readmissions ...", max_entries=2)
def readmission_penalty_tables(inputs: Inputs, changed: float) -> Penalty:
    """``finance.readmissions`` on the clean tables, partition by partition."""
    del changed
    _require_clean(inputs.clean_dir)
    settings = inputs.settings()
    rules = settings.finance.readmission_penalty
    try:
        records = readmissions.load_records(inputs.clean_dir.resolve(), settings)
        ratios = readmissions.excess_readmission_ratios(records.index, rules)
    except FinanceError as error:
        raise MissingInputError(f"The readmission penalty cannot be computed: {error}") from None
    names = records.facilities.set_index("facility_id")["name"]
    return Penalty(
        ratios.table.assign(facility=ratios.table["facility_id"].map(names)),
        readmissions.penalties(ratios, records, rules),
    )


def readmission_penalty(inputs: Inputs) -> Penalty:
    return readmission_penalty_tables(inputs, version(inputs.clean_dir))


@dataclass(frozen=True)
class Alerting:
    """The stays' orders (with their stay's unit, facility and age), the alerts they raise, and
    the adverse drug events coded on the stays."""

    orders: pd.DataFrame
    alerts: pd.DataFrame
    coded: pd.DataFrame


@st.cache_data(show_spinner="Checking every order for interactions ...", max_entries=2)
def alerting_tables(inputs: Inputs, changed: float) -> Alerting:
    """``pharmacy.alerts`` on the clean tables."""
    del changed
    _require_clean(inputs.clean_dir)
    settings = inputs.settings()
    try:
        orders = alerting.load_orders(inputs.clean_dir.resolve(), settings)
    except (PharmacyError, FileNotFoundError) as error:
        raise MissingInputError(f"The interaction alerts cannot be computed: {error}") from None
    return Alerting(orders.orders, alerting.alerts(orders, settings), orders.coded)


def alerts(inputs: Inputs) -> Alerting:
    return alerting_tables(inputs, version(inputs.clean_dir))


def finance_backtest(inputs: Inputs) -> pd.DataFrame | None:
    """What ``make finance`` leaves of the forecast's backtest (None before it has run)."""
    path = Path(inputs.settings().finance.tables_dir) / "forecast" / "backtest_summary.csv"
    return pd.read_csv(path, dtype={"facility": str}) if path.exists() else None


@st.cache_data(show_spinner="Forecasting ...")
def budget_forecast(series: pd.Series, months: int, coverage: float) -> pd.DataFrame:
    """``finance.forecast.budget_forecast``, cached by the series itself."""
    return forecast.budget_forecast(series, months, coverage)


@dataclass(frozen=True)
class Efficacy:
    """The antibiotic-timing study on the clean tables (``pharmacy.efficacy``), and the world's
    true effect on the same cohort as ``make pharmacy`` wrote it (None until it has run on
    these tables)."""

    estimates: pd.DataFrame
    balance: pd.DataFrame
    truth: pd.Series | None


@st.cache_data(show_spinner="Estimating the effect of antibiotic timing ...", max_entries=2)
def efficacy_tables(inputs: Inputs, changed: float) -> Efficacy:
    del changed
    _require_clean(inputs.clean_dir)
    settings = inputs.settings()
    try:
        stays = efficacy.load_cohort(inputs.clean_dir.resolve(), settings)
        estimates = efficacy.estimates(stays)
    except (PharmacyError, FileNotFoundError) as error:
        raise MissingInputError(f"The efficacy study cannot be run: {error}") from None
    return Efficacy(estimates, efficacy.balance(stays), _study_truth(settings, estimates))


def _study_truth(settings: Settings, estimates: pd.DataFrame) -> pd.Series | None:
    """The truth row ``make pharmacy`` wrote, if it was for this cohort (the same stays)."""
    path = Path(settings.medications.tables_dir) / "efficacy" / "estimates.csv"
    if not path.exists():
        return None
    written = pd.read_csv(path).set_index("method")
    if efficacy.TRUTH not in written.index:
        return None
    truth = written.loc[efficacy.TRUTH]
    same = (truth["stays"], truth["early_stays"]) == tuple(
        estimates[["stays", "early_stays"]].iloc[0]
    )
    return truth if same else None


def efficacy_study(inputs: Inputs) -> Efficacy:
    return efficacy_tables(inputs, version(inputs.clean_dir))


# --------------------------------------------------------------------------------------------
# What ``make decisions`` leaves: the prospective period, judged against the world's truth


DECISION_FAILURES = (DecisionError, FinanceError, FileNotFoundError, registry.ChampionNotFoundError)


@dataclass(frozen=True)
class Programme:
    """The transitional-care programme's inputs on the prospective period (``decisions.programme``)
    and the capacity curve computed from them."""

    stays: pd.DataFrame
    prices: programme.Prices
    penalty: programme.Penalty
    months: int
    curve: pd.DataFrame


@st.cache_resource(show_spinner="Reading the prospective period ...", max_entries=1)
def programme_inputs(inputs: Inputs, changed: float) -> Programme:
    del changed
    settings = inputs.settings()
    try:
        stays, prices, penalty = programme.load(settings, Path(inputs.data_dir))
    except DECISION_FAILURES as error:
        raise MissingInputError(f"{error}.") from None
    months = decisions.period_months(settings)
    curve = programme.capacity_curve(
        stays,
        settings.decisions.transitional_care,
        prices,
        penalty,
        months,
        programme.capacity_grid(stays),
    )
    return Programme(stays, prices, penalty, months, curve)


def programme_tables(inputs: Inputs) -> Programme:
    return programme_inputs(inputs, period_version(inputs))


@st.cache_data(show_spinner="Judging the programme at this capacity ...", max_entries=20)
def programme_at(inputs: Inputs, capacity: int, changed: float) -> pd.DataFrame:
    """``decisions.programme.evaluate`` at one monthly capacity: every rule, per year."""
    inputs_ = programme_inputs(inputs, changed)
    care = inputs.settings().decisions.transitional_care.model_copy(
        update={"capacities_per_month": [capacity]}
    )
    return programme.evaluate(inputs_.stays, care, inputs_.prices, inputs_.penalty, inputs_.months)


@st.cache_data(show_spinner="Judging the rapid-response policies ...", max_entries=2)
def ward_policies(inputs: Inputs, changed: float) -> tuple[pd.DataFrame, int, float]:
    """``decisions.rapid_response.compare`` on the prospective period, with its event count and
    its nurse shifts."""
    del changed
    settings = inputs.settings()
    try:
        ward = rapid_response.load(settings, Path(inputs.data_dir))
    except DECISION_FAILURES as error:
        raise MissingInputError(f"{error}.") from None
    table = rapid_response.compare(ward, settings.decisions.rapid_response)
    return table, len(ward.events), ward.nurse_shifts


def period_version(inputs: Inputs) -> float:
    """A cache key: the prospective period's feature tables and the registry."""
    settings = inputs.settings()
    folder = decisions.period_folder(settings, Path(inputs.data_dir)) / "features"
    return version(folder) + registry.changed_at(settings)


@st.cache_data(show_spinner="Reading the prospective validation ...", max_entries=2)
def prospective_validation(
    inputs: Inputs, changed: float
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Each champion's prospective validation and decision curve, as ``make decisions`` logged
    them on its run (the test split's curve where it has not run yet)."""
    del changed
    settings = inputs.settings()
    client = registry.connect(settings)
    rows, curves = [], {}
    for task in settings.task_names:
        try:
            champion = registry.champion_version(settings, task)
        except registry.ChampionNotFoundError as error:
            raise MissingInputError(f"{error}.") from None
        artifacts = {a.path for a in client.list_artifacts(champion.run_id, registry.PROSPECTIVE)}
        summary = f"{registry.PROSPECTIVE}/summary.json"
        if summary in artifacts:
            rows.append(mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/{summary}"))
        if settings.tasks[task].kind == "binary":
            prospective = f"{registry.PROSPECTIVE}/decision_curve.json"
            path = prospective if prospective in artifacts else "evaluation/decision_curve.json"
            curves[task] = registry.logged_table(champion.run_id, path).assign(
                source="prospective period" if path == prospective else "test split"
            )
    return pd.DataFrame(rows), curves


def validation_tables(inputs: Inputs) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    return prospective_validation(inputs, registry.changed_at(inputs.settings()))


@st.cache_data(show_spinner="Reading the validation reports ...", max_entries=2)
def validation_reports(inputs: Inputs, changed: float) -> dict[str, dict[str, str]]:
    """Each champion's TRIPOD+AI report and model-facts label as ``make decisions`` logged them
    on its run ({task: {file name: text}}; a task without them is left out)."""
    del changed
    settings = inputs.settings()
    client = registry.connect(settings)
    found = {}
    for task in settings.task_names:
        try:
            run_id = registry.champion_version(settings, task).run_id
        except registry.ChampionNotFoundError as error:
            raise MissingInputError(f"{error}.") from None
        names = [Path(a.path).name for a in client.list_artifacts(run_id, registry.REPORTS)]
        if names:
            found[task] = {
                name: mlflow.artifacts.load_text(f"runs:/{run_id}/{registry.REPORTS}/{name}")
                for name in names
            }
    return found
