"""Finance: the HRRP cohorts, ratios and penalty as specified and against the world's truth; the
revenue forecast, its backtest against seasonal-naive, and the command line's messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from features.deidentify import load_key, pseudonyms
from finance import FinanceError, facility_id_of, forecast, readmissions
from finance.__main__ import app


@pytest.fixture(scope="module")
def rules(small_settings):
    return small_settings.finance.readmission_penalty


@pytest.fixture(scope="module")
def small_records(small_world_dir, small_etl, small_settings) -> readmissions.Records:
    return readmissions.load_records(small_world_dir / "clean", small_settings)


def _cohorts(n_per_facility: int, effects: list[float], seed: int) -> pd.DataFrame:
    """Index stays of one condition at facilities with known readmission log-odds effects, with
    each stay's true risk there (``p``) and at an average facility (``p_average``)."""
    rng = np.random.default_rng(seed)
    facility = np.repeat(np.arange(1, len(effects) + 1), n_per_facility)
    risk = {name: np.zeros(len(facility)) for name in readmissions.RISK_FACTORS}
    risk["age_years"] = rng.uniform(65, 95, len(facility))
    risk["female"] = (rng.random(len(facility)) < 0.5).astype(float)
    risk["prior_admissions_12m"] = rng.poisson(0.5 + 0.03 * (risk["age_years"] - 65)).astype(float)
    linear = -2.2 + 0.04 * (risk["age_years"] - 80) + 0.5 * risk["prior_admissions_12m"]
    p = 1 / (1 + np.exp(-(linear + np.asarray(effects)[facility - 1])))
    return pd.DataFrame(
        {
            "condition": "heart_failure",
            "facility_id": facility,
            "readmitted": rng.random(len(facility)) < p,
            "owed_usd": 10_000.0,
            "p": p,
            "p_average": 1 / (1 + np.exp(-linear)),
            **risk,
        }
    )


def test_excess_ratios_recover_each_hospitals_own_effect_within_their_intervals(rules):
    effects = [-0.4, -0.2, 0.0, 0.0, 0.2, 0.4]
    cells = []
    for seed in range(4):
        stays = _cohorts(1500, effects, seed)
        table = readmissions.excess_readmission_ratios(stays, rules).table
        truth = stays.groupby("facility_id")[["p", "p_average"]].sum()
        table["true_ratio"] = table["facility_id"].map(truth["p"] / truth["p_average"])
        cells.append(table)
    cells = pd.concat(cells)
    assert stats.spearmanr(cells["excess_ratio"], cells["true_ratio"]).statistic > 0.85
    covered = cells["true_ratio"].between(cells["excess_ratio_low"], cells["excess_ratio_high"])
    assert covered.mean() >= 0.8, cells
    assert (cells["excess_ratio_low"] < cells["excess_ratio"]).all()
    assert (cells["excess_ratio"] < cells["excess_ratio_high"]).all()


def test_a_cohort_without_readmissions_is_listed_unmeasured_and_the_others_still_measured(rules):
    measured = _cohorts(300, [0.0, 0.3], seed=5)
    quiet = _cohorts(20, [0.0, 0.3], seed=6).assign(condition="cabg", readmitted=False)
    table = readmissions.excess_readmission_ratios(pd.concat([measured, quiet]), rules).table
    cabg = table[table["condition"] == "cabg"]
    assert len(cabg) == 2
    assert not cabg["counted"].any()
    assert cabg["excess_ratio"].isna().all()
    assert (cabg["readmissions"] == 0).all()
    heart_failure = table[table["condition"] == "heart_failure"]
    assert heart_failure["excess_ratio"].notna().all()
    assert heart_failure["counted"].all()


def test_index_stays_are_the_programs_payer_and_age_alive_followed_and_in_their_cohort(
    small_records, small_clean, rules
):
    index = small_records.index
    stays = small_clean["encounters"].set_index("encounter_key").loc[index["encounter_key"]]
    payer = small_clean["patients"].set_index("patient_key")["payer"]
    assert (stays["patient_key"].map(payer) == rules.payer).all()
    assert (stays["age_years"] >= rules.min_age_years).all()
    assert not stays["discharge_disposition"].isin(["expired", "transfer", "ama"]).any()
    data_end = small_clean["encounters"]["admitted_at"].max()
    assert (stays["discharged_at"] + pd.Timedelta(days=30) <= data_end).all()
    heart_failure = index["condition"] == "heart_failure"
    assert stays.loc[heart_failure.to_numpy(), "primary_dx_code"].str.startswith("I50").all()
    replaced = small_clean["procedures"]["code"].str.startswith(("0SR9", "0SRB", "0SRC", "0SRD"))
    joints = set(small_clean["procedures"].loc[replaced, "encounter_key"])
    in_cohort = set(index.loc[index["condition"] == "hip_knee_replacement", "encounter_key"])
    assert in_cohort
    assert in_cohort <= joints
    owed = small_clean["claims"].set_index("encounter_key")["allowed_usd"]
    np.testing.assert_allclose(index["owed_usd"], index["encounter_key"].map(owed))


def test_the_penalty_is_the_payment_weighted_excess_capped_and_critical_access_is_exempt(
    rules,
):
    facilities = pd.DataFrame(
        {"facility_id": [1, 2, 3], "name": ["A", "B", "C"],
         "type": ["academic", "community", "critical_access"]}
    )  # fmt: skip
    ratio = {(1, "heart_failure"): 1.10, (1, "copd"): 0.90, (2, "heart_failure"): 1.80,
             (3, "heart_failure"): 1.50}  # fmt: skip
    rows, draws = [], {}
    for (facility_id, condition), value in ratio.items():
        rows.append({"condition": condition, "facility_id": facility_id, "excess_ratio": value,
                     "counted": True})  # fmt: skip
        draws[(condition, facility_id)] = np.full(rules.draws, value)
    index = pd.DataFrame(
        {"condition": ["heart_failure", "copd", "heart_failure", "heart_failure"],
         "facility_id": [1, 1, 2, 3], "owed_usd": [200_000.0, 300_000.0, 400_000.0, 50_000.0],
         "discharged_at": pd.Timestamp("2024-01-01")}
    )  # fmt: skip
    payments = pd.DataFrame(
        {"facility_id": [1, 2, 3], "owed_usd": [2_000_000.0, 1_000_000.0, 500_000.0],
         "discharged_at": pd.Timestamp("2024-01-01")}
    )  # fmt: skip
    records = readmissions.Records(index, payments, facilities)
    table = readmissions.penalties(
        readmissions.Ratios(pd.DataFrame(rows), draws), records, rules
    ).set_index("facility_id")
    # A: 200,000 x 0.10 over 2,000,000 (COPD's ratio below 1 earns nothing back).
    assert table.loc[1, "penalty_share"] == pytest.approx(0.01)
    assert table.loc[1, "penalty_usd"] == pytest.approx(20_000)
    # B: 400,000 x 0.80 over 1,000,000 = 32%, capped.
    assert table.loc[2, "penalty_share"] == pytest.approx(rules.penalty_cap)
    assert table.loc[2, "penalised_probability"] == 1.0
    assert not table.loc[3, "in_program"]
    assert np.isnan(table.loc[3, "penalty_share"])


def test_a_period_without_index_stays_and_an_unknown_facility_are_named(small_records):
    with pytest.raises(FinanceError, match="no index stays discharged between 2031-01-01"):
        small_records.between(pd.Timestamp("2031-01-01"), None)
    with pytest.raises(FinanceError, match=r"starts \(2024-06-01\) after it ends"):
        small_records.between(pd.Timestamp("2024-06-01"), pd.Timestamp("2024-01-01"))
    with pytest.raises(FinanceError, match="no facility named 'Mercy General'"):
        facility_id_of(small_records.facilities, "Mercy General")
    assert facility_id_of(small_records.facilities, "  lakeshore general   HOSPITAL") == 3


@pytest.fixture(scope="module")
def medium_records(medium_world_dir, medium_etl, medium_settings):
    return readmissions.load_records(medium_world_dir / "clean", medium_settings)


@pytest.mark.slow
def test_excess_ratios_cover_the_worlds_true_ratios(
    medium_records, medium_world_dir, medium_settings, key_root
):
    rules = medium_settings.finance.readmission_penalty
    ratios = readmissions.excess_readmission_ratios(medium_records.index, rules).table
    oracle = pd.read_parquet(medium_world_dir / "oracle" / "encounters.parquet")
    key = load_key(medium_settings.features.etl, key_root)
    oracle["encounter_key"] = pseudonyms(oracle["encounter_id"], "encounter", key)
    truth = (
        medium_records.index.merge(oracle, on="encounter_key")
        .groupby(["condition", "facility_id"])[["p_readmit_30d", "p_readmit_30d_average_facility"]]
        .sum()
    )
    true_ratio = truth["p_readmit_30d"] / truth["p_readmit_30d_average_facility"]
    counted = ratios[ratios["counted"]].set_index(["condition", "facility_id"])
    inside = true_ratio.loc[counted.index].between(
        counted["excess_ratio_low"], counted["excess_ratio_high"]
    )
    assert len(counted) >= 10
    assert inside.mean() >= 0.8, counted.assign(true_ratio=true_ratio)


def _monthly_series(months: int, seed: int, noise_sd: float = 5_000) -> pd.Series:
    """A winter-peaked monthly series around a million, with normal noise."""
    index = pd.date_range("2023-01-01", periods=months, freq="MS")
    noise = np.random.default_rng(seed).normal(0, noise_sd, months)
    winter = 80_000 * np.cos(2 * np.pi * (index.month.to_numpy() - 1) / 12)
    return pd.Series(1_000_000 + winter + noise, index=index)


def test_budget_forecast_follows_an_annual_cycle_within_its_interval():
    table = forecast.budget_forecast(_monthly_series(30, 7), 6, 0.9)
    ahead = table[table["forecast_month"]]
    assert len(ahead) == 6
    assert table["forecast"].isna().sum() == 24
    # A 90% interval: one month of six outside it is within chance, two would not be.
    assert ahead["actual"].between(ahead["low"], ahead["high"]).sum() >= 5
    assert np.abs(ahead["forecast"] / ahead["actual"] - 1).max() < 0.03
    assert (ahead["high"] > ahead["forecast"]).all()


def test_a_series_too_short_or_with_gaps_is_refused():
    with pytest.raises(FinanceError, match="too few"):
        forecast.budget_forecast(_monthly_series(10, 1), 6, 0.9)
    with pytest.raises(FinanceError, match="consecutive months"):
        forecast.forecast(_monthly_series(24, 1).drop(pd.Timestamp("2023-06-01")), 3, 0.8)


def test_the_backtest_refits_at_each_origin_and_beats_seasonal_naive_on_a_noisy_cycle():
    runs = []
    for seed in range(4):
        series = _monthly_series(24, seed, noise_sd=40_000)
        run = forecast.backtest(series, 6, 0.8, 16)
        assert run["origin"].nunique() == 8  # every month from the seventeenth
        year_before = run["month"] - pd.DateOffset(months=12)
        np.testing.assert_allclose(run["seasonal_naive"], series.loc[year_before].to_numpy())
        runs.append(run)
    runs = pd.concat(runs)
    summary = forecast.backtest_summary(runs).set_index("months_ahead")
    assert summary["forecasts"].to_dict() == {1: 32, 2: 28, 3: 24, 4: 20, 5: 16, 6: 12}
    # The cycle is learnt, where seasonal-naive repeats last year's noise on top of this year's.
    error = (runs["forecast"] - runs["actual"]).abs().sum()
    assert error < 0.9 * (runs["seasonal_naive"] - runs["actual"]).abs().sum()
    assert 0.6 <= runs["actual"].between(runs["low"], runs["high"]).mean() <= 0.95


def test_monthly_finance_keeps_whole_months_after_the_warmup_and_adds_up(small_clean):
    monthly = forecast.monthly_finance(
        small_clean["encounters"], small_clean["claims"], small_clean["facilities"], 1
    )
    system = monthly[monthly["facility"] == forecast.ALL_FACILITIES].set_index("month")
    facilities = (
        monthly[monthly["facility"] != forecast.ALL_FACILITIES]
        .groupby("month")
        .sum(numeric_only=True)
    )
    np.testing.assert_allclose(system[list(forecast.MEASURES)], facilities[list(forecast.MEASURES)])
    first = small_clean["encounters"]["discharged_at"].min().to_period("M").to_timestamp()
    assert system.index.min() == first + pd.DateOffset(months=1)
    assert system.index.max() + pd.DateOffset(months=1) <= small_clean["encounters"][
        "admitted_at"
    ].max().ceil("D")
    np.testing.assert_allclose(system["margin_usd"], system["revenue_usd"] - system["cost_usd"])


def test_the_cli_writes_the_penalty_and_forecast_tables_and_names_what_is_wrong(
    small_world_dir, small_etl, tmp_path
):
    # Three origins of the backtest are enough to check what the command writes.
    common = ["--profile", "small", "--data-dir", str(small_world_dir),
              f"finance.tables_dir={tmp_path}",
              "finance.forecast.min_history_months=20"]  # fmt: skip
    penalty = CliRunner().invoke(app, ["readmissions", *common])
    assert penalty.exit_code == 0, penalty.output
    table = pd.read_csv(tmp_path / "readmissions" / "penalties.csv")
    assert len(table) == 7
    assert (~table["in_program"]).sum() == 2
    ahead = CliRunner().invoke(app, ["forecast", "--facility", "Northgate Community Hospital",
                                     *common])  # fmt: skip
    assert ahead.exit_code == 0, ahead.output
    runs = pd.read_csv(tmp_path / "forecast" / "backtest.csv")
    assert set(runs["facility"]) == {"Northgate Community Hospital", "all"}
    unknown = CliRunner().invoke(app, ["forecast", "--facility", "Mercy General", *common])
    assert unknown.exit_code == 1
    assert "no facility named 'Mercy General'" in unknown.output
    empty = CliRunner().invoke(app, ["readmissions", "--since", "2031-01-01", *common])
    assert empty.exit_code == 1
    assert "no index stays discharged" in empty.output
    bad_day = CliRunner().invoke(app, ["readmissions", "--until", "June", *common])
    assert bad_day.exit_code == 2
    assert "not a date" in bad_day.output
