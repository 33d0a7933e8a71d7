"""The clinical dashboard: every page in Streamlit's AppTest on the small world's outputs of make
train and make monitor (values checked against the KPI tables), its messages when an input is
missing, and the pages in a real browser (headless Chromium). Its analyses:
test_dashboard_analysis.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import servers
from conftest import MONITOR_RUN
from streamlit.testing.v1 import AppTest

from configs import load_settings
from dashboard import data, ui
from decisions import RISK, period_months, period_rows
from features import census, scores
from finance import readmissions
from monitoring import kpis
from operations import staffing
from pharmacy import efficacy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
PAGES = [
    "overview", "patients", "treatments", "journeys", "facilities", "capacity", "emergency",
    "quality", "risk", "finance", "medications", "decisions", "model_health",
]  # fmt: skip
TITLES = {
    "overview": "Hospital overview",
    "patients": "Patients",
    "treatments": "Treatments",
    "facilities": "Facilities",
    "journeys": "Patient journeys",
    "capacity": "Capacity and staffing",
    "emergency": "Emergency department",
    "quality": "Quality and staffing",
    "risk": "Current high-risk inpatients",
    "finance": "Finance",
    "medications": "Medications",
    "decisions": "Decisions",
    "model_health": "Model health",
}
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts")) / "dashboard"


# --------------------------------------------------------------------------------------------
# The pages, on the small world's outputs of make train and make monitor


@pytest.fixture(scope="module")
def outputs(trained, small_world_dir, small_outputs):
    """What make train and make monitor leave for the small world, and the dashboard's
    arguments to read them."""
    settings, results = trained
    reports, _ = small_outputs
    arguments = ["--profile", "small", "--data-dir", str(small_world_dir),
                 f"training.tracking_uri={settings.training.tracking_uri}",
                 f"monitoring.reports_dir={reports}",
                 f"operations.tables_dir={reports / 'operations'}",
                 f"medications.tables_dir={reports / 'pharmacy'}"]  # fmt: skip
    tables = {
        path.stem: pd.read_csv(path, dtype={c: str for c in kpis.LABELS}, keep_default_na=False)
        for path in (reports / MONITOR_RUN / "kpis").glob("*.csv")
    }
    tables["followed_stays"] = _followed_stays(small_world_dir / "clean")
    tables["medication_orders"] = _medication_orders(small_world_dir / "clean")
    tables["efficacy"] = pd.read_csv(reports / "pharmacy" / "efficacy" / "estimates.csv")
    tables["efficacy_cohort"] = _efficacy_cohort(small_world_dir / "clean", settings)
    tables["staffing_plans"] = pd.read_csv(
        reports / "operations" / "evaluation" / "summary.csv", dtype={"facility": str}
    )
    return arguments, tables, reports / MONITOR_RUN, results


def _app(monkeypatch, arguments: list[str], page: str) -> AppTest:
    monkeypatch.setattr(sys, "argv", [str(APP), *arguments])
    app = AppTest.from_file(str(APP), default_timeout=180)
    app.run()
    if page != "overview":
        app.switch_page(f"views/{page}.py").run()
    return app


def _figure(table: pd.DataFrame, column: str, **labels: str) -> float:
    """The KPI tables as written by make monitor: the value with these labels, totals elsewhere."""
    keep = np.ones(len(table), dtype=bool)
    for label in kpis.LABELS:
        if label in table.columns:
            keep &= (table[label] == labels.get(label, kpis.TOTAL)).to_numpy()
    (value,) = pd.to_numeric(table.loc[keep, column])
    return float(value)


def _metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def _followed_stays(clean_dir: Path) -> pd.DataFrame:
    """Per facility name (and ``all``), the stays whose 30 days after discharge are recorded."""
    stays = pd.read_parquet(clean_dir / "encounters.parquet")
    names = pd.read_parquet(clean_dir / "facilities.parquet").set_index("facility_id")["name"]
    end = stays["admitted_at"].max()
    followed = stays[stays["discharged_at"] + pd.Timedelta(days=30) <= end]
    counts = followed["facility_id"].map(names).value_counts()
    return pd.DataFrame(
        {"facility": [*counts.index, kpis.TOTAL], "stays": [*counts, len(followed)]}
    )


def _medication_orders(clean_dir: Path) -> pd.DataFrame:
    """Per facility name (and ``all``): orders placed, and the share of the stays of patients
    aged 65 and over (among stays with an order) with five or more home medicines."""
    stays = pd.read_parquet(clean_dir / "encounters.parquet")
    names = pd.read_parquet(clean_dir / "facilities.parquet").set_index("facility_id")["name"]
    orders = pd.read_parquet(clean_dir / "medications.parquet").merge(
        stays[["encounter_key", "facility_id", "age_years"]], on="encounter_key"
    )
    rows = []
    for facility in [kpis.TOTAL, *names]:
        mine = (
            orders
            if facility == kpis.TOTAL
            else orders[orders["facility_id"].map(names) == facility]
        )
        older = mine.loc[mine["age_years"] >= 65, "encounter_key"].unique()
        home = mine[mine["source"] == "home"].groupby("encounter_key")["drug_name"].nunique()
        share = (home.reindex(older, fill_value=0) >= 5).mean()
        rows.append({"facility": facility, "orders": len(mine), "polypharmacy_65": share})
    return pd.DataFrame(rows)


def _efficacy_cohort(clean_dir: Path, settings) -> int:
    """Stays with an infection as principal diagnosis, a given antibiotic dose and a lactate drawn
    within the admission window: the efficacy study's cohort, counted from the tables."""
    study = settings.medications.antibiotic_timing_study
    stays = pd.read_parquet(clean_dir / "encounters.parquet")
    groups = pd.Series(scores.diagnosis_group(stays["primary_dx_code"].tolist()))
    infection = groups.isin(study.diagnosis_groups).to_numpy()
    antibiotics = {
        d.replace("_", " ") for d in settings.data_gen.medications.drugs_of(study.drug_class)
    }
    doses = pd.read_parquet(clean_dir / "medications.parquet")
    given = doses.loc[doses["drug_name"].isin(antibiotics) & doses["first_dose_at"].notna()]
    labs = pd.read_parquet(clean_dir / "labs.parquet")
    labs = labs[labs["test"] == "lactate"].merge(stays[["encounter_key", "admitted_at"]])
    window = pd.Timedelta(hours=settings.features.tasks.admission_hours)
    lactate = labs.loc[labs["drawn_at"] <= labs["admitted_at"] + window, "encounter_key"]
    keys = stays["encounter_key"]
    return int((infection & keys.isin(given["encounter_key"]) & keys.isin(lactate)).sum())


def _expected_metrics(page: str, tables: dict[str, pd.DataFrame], facility: str = "all"):
    scope = {"facility": facility}
    if page == "overview":
        return {
            "Average length of stay": f"{_figure(tables['length_of_stay'], 'los_mean_days', **scope):.2f} days",  # noqa: E501
            "30-day readmission": f"{_figure(tables['readmissions'], 'readmitted_30d_rate', **scope):.1%}",  # noqa: E501
            "Treatment success": f"{_figure(tables['treatment_success'], 'success_rate', **scope):.1%}",  # noqa: E501
            "Cost per encounter": f"${_figure(tables['costs'], 'cost_per_encounter_usd', **scope):,.0f}",  # noqa: E501
            "Bed utilisation": f"{_figure(tables['bed_occupancy'], 'utilisation', **scope):.1%}",
            "Mortality O/E": f"{_figure(tables['mortality'], 'observed_to_expected', **scope):.2f}",
        }
    if page == "patients":
        return {
            "Stays": f"{_figure(tables['length_of_stay'], 'stays', **scope):,.0f}",
            "30-day readmission": f"{_figure(tables['readmissions'], 'readmitted_30d_rate', **scope):.1%}",  # noqa: E501
        }
    if page == "treatments":
        success = tables["treatment_success"]
        return {
            "All stays": f"{_figure(success, 'success_rate', **scope):.1%}",
            **{
                f"{p.capitalize()} protocol": f"{_figure(success, 'success_rate', protocol=p, **scope):.1%}"  # noqa: E501
                for p in ("standard", "enhanced", "conservative")
            },
        }
    if page == "facilities":
        return {
            "Bed utilisation": f"{_figure(tables['bed_occupancy'], 'utilisation', **scope):.1%}",
            "ED wait, median": f"{_figure(tables['ed_waits'], 'wait_median_minutes', **scope):.0f} min",  # noqa: E501
            "Mortality O/E": f"{_figure(tables['mortality'], 'observed_to_expected', **scope):.2f}",
        }
    if page == "emergency":
        flow = tables["ed_flow"]
        return {
            "Visits": f"{_figure(flow, 'visits', **scope):,.0f}",
            "Door to provider, median": f"{_figure(flow, 'provider_median_minutes', **scope):.0f} min",  # noqa: E501
            "Boarding, median": f"{_figure(flow, 'boarding_median_hours', **scope):.1f} h",
            "Left without being seen": f"{_figure(flow, 'left_without_being_seen_rate', **scope):.1%}",  # noqa: E501
            "Arrivals per provider-hour": f"{_figure(tables['ed_arrivals'], 'arrivals_per_provider_hour', **scope):.2f}",  # noqa: E501
        }
    if page == "quality":
        staffing = tables["nurse_staffing"]
        return {
            "Net promoter score": f"{_figure(tables['satisfaction'], 'net_promoter_score', **scope):.0f}",  # noqa: E501
            "Patients per nurse": f"{_figure(staffing, 'patients_per_nurse', **scope):.1f}",
            "Shifts above the ratio target": f"{_figure(staffing, 'unsafe_shift_rate', **scope):.1%}",  # noqa: E501
        }
    if page == "journeys":
        return {"Stays": f"{_figure(tables['followed_stays'], 'stays', **scope):,.0f}"}
    if page == "capacity":  # the first facility: the page has no system-wide view
        judged = tables["staffing_plans"].set_index("facility").loc["1"]
        return {
            "Unsafe shifts, roster": f"{judged['roster_unsafe_shifts']:,.0f}",
            "Unsafe shifts, plan": f"{judged['plan_unsafe_shifts']:,.0f}",
            "Cost, roster": f"${judged['roster_cost_usd']:,.0f}",
            "Deteriorations avoided": f"{judged['events_avoided']:.1f}",
        }
    if page == "medications":
        orders = tables["medication_orders"].set_index("facility").loc[facility]
        study = tables["efficacy"].set_index("method")  # the system's, whatever the filter
        return {
            "Orders": f"{orders['orders']:,.0f}",
            "Five or more home medicines, 65+": f"{orders['polypharmacy_65']:.1%}",
            "Cohort stays": f"{tables['efficacy_cohort']:,}",
            "Naive difference": f"{study.loc[efficacy.NAIVE, 'risk_difference']:+.1%}",
            "Doubly robust difference": f"{study.loc['doubly robust (AIPW)', 'risk_difference']:+.1%}",  # noqa: E501
            "True difference": f"{study.loc[efficacy.TRUTH, 'risk_difference']:+.1%}",
        }
    if page == "finance":
        finance = tables["finance"]
        return {
            "Revenue": f"${_figure(finance, 'revenue_usd', **scope):,.0f}",
            "Cost": f"${_figure(finance, 'cost_usd', **scope):,.0f}",
            "Margin": f"{_figure(finance, 'margin_share', **scope):.1%}",
            "Revenue per stay": f"${_figure(finance, 'revenue_per_stay_usd', **scope):,.0f}",
            "Cost per encounter": f"${_figure(tables['costs'], 'cost_per_encounter_usd', **scope):,.0f}",  # noqa: E501
            "Medicare case-mix index": f"{_figure(finance, 'medicare_case_mix_index', **scope):.2f}",  # noqa: E501
        }
    return {}


@pytest.mark.parametrize("page", PAGES)
def test_each_page_renders_and_shows_the_kpi_tables_figures(page, outputs, monkeypatch):
    arguments, tables, _, _ = outputs
    app = _app(monkeypatch, arguments, page)
    assert not app.exception, [e.value for e in app.exception]
    assert app.title[0].value == TITLES[page]
    assert not [i.value for i in app.info if "`make" in i.value]  # every input is there
    shown = _metrics(app)
    for label, value in _expected_metrics(page, tables).items():
        assert shown[label] == value, label


@pytest.mark.parametrize(
    "page", ["overview", "journeys", "facilities", "emergency", "quality", "finance", "medications"]
)
def test_the_facility_filter_shows_that_facilitys_figures(page, outputs, monkeypatch):
    arguments, tables, _, _ = outputs
    app = _app(monkeypatch, arguments, page)
    facility = sorted(set(tables["length_of_stay"]["facility"]) - {kpis.TOTAL})[0]
    app.sidebar.selectbox(key="facility").select(facility).run()
    assert not app.exception
    shown = _metrics(app)
    for label, value in _expected_metrics(page, tables, facility).items():
        assert shown[label] == value, label


def test_the_risk_lists_rank_the_current_inpatients_by_pseudonym(
    outputs, trained, monkeypatch, small_clean
):
    arguments, _, _, _ = outputs
    declared, _ = trained
    app = _app(monkeypatch, arguments, "risk")
    app.sidebar.toggle[0].set_value(False).run()
    e = small_clean["encounters"]
    at = e["admitted_at"].max()
    in_hospital = e[(e["admitted_at"] <= at) & (e["discharged_at"] > at)]
    lists = data.risk_tasks(declared)  # every binary task has its list, in order
    assert [h.value for h in app.subheader] == [declared.tasks[t].title for t in lists]
    position = lists.index("readmission")
    assert app.metric[2 * position].value == f"{len(in_hospital):,}"
    readmission = app.dataframe[position].value
    assert len(readmission) == min(len(in_hospital), 25)
    assert readmission["risk"].is_monotonic_decreasing
    assert readmission["risk"].between(0, 1).all()
    assert set(readmission["patient"]) <= {key[:12] for key in in_hospital["patient_key"]}
    assert readmission["top reasons"].str.count(";").eq(2).all()


def test_model_health_shows_the_monitoring_verdicts_and_the_champions_metrics(
    outputs, trained, monkeypatch
):
    arguments, _, run, results = outputs
    resolved, _ = trained
    app = _app(monkeypatch, arguments, "model_health")
    summaries = {s["task"]: s for s in data.drift_summaries(run)}
    assert _metrics(app) == {task: s["verdict"].upper() for task, s in summaries.items()}
    champions = app.dataframe[0].value.set_index("task")
    for task, result in results.items():
        declared = resolved.tasks[task]
        shown = champions.loc[declared.title, "champion (95% CI)"]
        assert shown.startswith(ui.figure(result.test[0], declared.metric, declared.unit))
        assert "None" not in champions.loc[declared.title, "clinical baselines"]
    verdicts = app.dataframe[1].value.set_index("task")
    assert set(verdicts.index) == set(summaries)
    reports = 2 * len(resolved.task_names)  # each champion's TRIPOD+AI report and label
    assert len(app.get("download_button")) == len(list((run / "drift").glob("*.html"))) + reports
    assert [e.label for e in app.expander] == [
        f"{resolved.tasks[task].title}: model facts" for task in resolved.task_names
    ]


def test_no_direct_identifier_appears_on_any_page(outputs, monkeypatch, small_world):
    arguments, _, _, _ = outputs
    patients = small_world["patients"]
    identifiers = {
        *patients["first_name"].head(200) + " " + patients["last_name"].head(200),
        *patients["mrn"].head(200),
        *patients["ssn"].head(200),
        *patients["phone"].head(200),
    }
    for page in PAGES:
        app = _app(monkeypatch, arguments, page)
        text = " ".join(
            [str(element.value) for kind in ("markdown", "caption", "metric", "info")
             for element in getattr(app, kind)]
            + [frame.value.to_csv() for frame in app.dataframe]
        )  # fmt: skip
        assert not [value for value in identifiers if value in text], page


@pytest.mark.parametrize("page", PAGES)
def test_a_missing_input_names_the_command_to_run(page, monkeypatch, tmp_path):
    arguments = ["--profile", "small", "--data-dir", str(tmp_path / "data"),
                 f"training.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
                 f"monitoring.reports_dir={tmp_path / 'reports'}"]  # fmt: skip
    app = _app(monkeypatch, arguments, page)
    assert not app.exception
    assert "run `make train` first" in app.info[0].value


def test_finance_shows_each_facilitys_readmission_penalty_and_forecasts_the_chosen_measure(
    outputs, monkeypatch, small_world_dir, small_settings
):
    arguments, _, _, _ = outputs
    app = _app(monkeypatch, arguments, "finance")
    rules = small_settings.finance.readmission_penalty
    records = readmissions.load_records(small_world_dir / "clean", small_settings)
    ratios = readmissions.excess_readmission_ratios(records.index, rules)
    expected = readmissions.penalties(ratios, records, rules)
    shown = app.dataframe[0].value
    assert shown["facility"].tolist() == expected["facility"].tolist()
    assert (shown["interval"] == "exempt (critical access)").sum() == (
        ~expected["in_program"]
    ).sum()
    assert shown["penalty (USD)"].tolist() == expected["penalty_usd"].map(ui.usd).tolist()
    app.radio(key="finance_measure").set_value("margin").run()
    assert not app.exception
    assert any("forecast was off by" in c.value for c in app.caption)


def test_capacity_plans_the_next_two_weeks_for_the_quantile_chosen(
    outputs, monkeypatch, small_world_dir
):
    app = _app(monkeypatch, outputs[0], "capacity")
    clean = small_world_dir / "clean"
    roster = pd.read_parquet(clean / "nurse_staffing.parquet")
    stays = pd.read_parquet(clean / "encounters.parquet", columns=list(census.STAY_COLUMNS))
    by_shift = census.shift_census(stays, roster)
    last_day = by_shift["shift_start"].max().normalize()
    config = load_settings("small").operations
    costs = []
    for quantile in (config.staffing.census_quantile, 0.5):
        if quantile != config.staffing.census_quantile:
            app.slider(key="capacity_plan_quantile").set_value(quantile).run()
        assert not app.exception, [e.value for e in app.exception]
        plan = staffing.plan_facility(
            by_shift, roster, 1, last_day, config.with_census_quantile(quantile)
        )
        shown = _metrics(app)
        assert shown["Plan cost"] == ui.usd(plan.cost_usd)
        expected = plan.nurses["unsafe_chance"].sum()
        assert shown["Unsafe shifts expected, plan"] == f"{expected:.1f}"
        costs.append(plan.cost_usd)
    assert costs[1] <= costs[0]  # the median costs no more than a higher quantile
    assert app.dataframe[-1].value.shape == (plan.nurses["unit"].nunique(), 28)


def test_capacity_without_the_operations_tables_asks_for_make_operations(
    outputs, monkeypatch, tmp_path
):
    arguments = [*outputs[0][:-1], f"operations.tables_dir={tmp_path}"]
    app = _app(monkeypatch, arguments, "capacity")
    assert not app.exception
    assert "run `make operations` first" in app.info[0].value


def test_model_health_without_a_monitoring_run_asks_for_make_monitor(
    outputs, monkeypatch, tmp_path
):
    arguments, _, _, _ = outputs
    app = _app(monkeypatch, [*arguments, f"monitoring.reports_dir={tmp_path}"], "model_health")
    assert not app.exception
    assert "run `make monitor` first" in app.info[0].value


# --------------------------------------------------------------------------------------------
# In a real browser


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        reason = "Debian's chromium and chromium-driver are not installed (.ci/run installs them)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1400,2000"):  # fmt: skip
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(driver), options=options)
    yield session
    session.quit()


@pytest.fixture(scope="module")
def served(outputs, trained, tmp_path_factory):
    """``python -m dashboard`` on the small world's outputs, as make dashboard starts it."""
    arguments, _, _, _ = outputs
    resolved, _ = trained
    port = servers.free_port()
    log = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard", *arguments, "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "MLFLOW_TRACKING_URI": resolved.training.tracking_uri},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    servers.wait_until_up(f"{url}/_stcore/health", process, log, seconds=60)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_every_page_in_headless_chromium(served, browser, outputs):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, tables, _, _ = outputs
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    verdicts = {s["task"]: s["verdict"].upper() for s in data.drift_summaries(outputs[2])}
    for page in PAGES:
        known = next(iter(_expected_metrics(page, tables).values()), None)
        if page == "risk":
            known = "Inpatients scored"
        if page == "model_health":
            known = verdicts["readmission"]
        if page == "decisions":
            known = "Avoided, champion"
        browser.get(f"{served}/{'' if page == 'overview' else page}")

        def ready(driver, title=TITLES[page], expected=known):
            titles = driver.find_elements(By.TAG_NAME, "h1")
            metrics = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]')
            return (
                titles
                and titles[0].text == title
                and any(expected in metric.text for metric in metrics)
            )

        def finished(driver):
            running = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
            charts = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]')
            drawn = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"] svg')
            return not running and len(drawn) >= len(charts)

        try:
            wait = WebDriverWait(browser, 60, poll_frequency=0.5)
            wait.until(ready)
            wait.until(finished)
        finally:
            browser.save_screenshot(str(ARTIFACTS / f"{page}.png"))
        errors = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
        assert not errors, (page, [e.text for e in errors])


def test_the_decisions_page_shows_the_programmes_truth_and_the_prospective_validation(
    outputs, trained, monkeypatch, small_world_dir
):
    arguments, _, _, _ = outputs
    settings, _ = trained
    app = _app(monkeypatch, arguments, "decisions")
    care = settings.decisions.transitional_care
    capacity = app.select_slider(key="capacity").value
    # Independently: the champion's highest risks of each month, their true risks times the
    # effect, a year.
    stays = period_rows(settings, "readmission", small_world_dir)
    month = stays["prediction_time"].dt.to_period("M")
    top = stays.groupby(month, group_keys=False).apply(lambda rows: rows.nlargest(capacity, RISK))
    months = period_months(settings)
    avoided = care.relative_reduction * top["oracle_p_readmit_30d"].sum() * 12 / months
    shown = _metrics(app)["Avoided, champion"]
    assert shown.startswith(f"{avoided:,.0f} (")
    validation = app.dataframe[-1].value.set_index("task")
    assert set(validation.index) == set(settings.task_names)
    assert set(validation["verdict"]) <= {"met", "missed", "undecided", "no goal"}
    curves = [chart for chart in app.get("plotly_chart")]
    assert sum("prospective period" in str(chart.proto) for chart in curves) == 3
