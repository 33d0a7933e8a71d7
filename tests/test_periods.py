"""The next period after the span, under each named scenario: the shift it names, and no other."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from configs import ConfigError, load_settings
from configs.data_gen import DataGenConfig
from data_gen import period

RESPIRATORY = ("J09", "J10", "J11", "J12", "J13", "J14", "J15", "J16", "J17", "J18", "J44")


@pytest.fixture(scope="module")
def periods(small_settings, tmp_path_factory) -> dict[str, dict[str, pd.DataFrame]]:
    """Each scenario's period on the small profile: its stays (admitted in the period) and their
    patients and diagnoses."""
    root = tmp_path_factory.mktemp("periods")
    start = pd.Timestamp(small_settings.data_gen.end_date)
    worlds = {}
    for scenario in small_settings.data_gen.next_period.scenarios:
        period.generate_period(small_settings, scenario, root)
        raw = period.period_dir(root, scenario) / "raw"
        tables = {name: pd.read_parquet(raw / f"{name}.parquet")
                  for name in ("encounters", "patients", "diagnoses")}  # fmt: skip
        encounters = tables["encounters"]
        tables["warmup"] = encounters[encounters["admitted_at"] < start]
        tables["encounters"] = encounters[encounters["admitted_at"] >= start]
        worlds[scenario] = tables
    return worlds


def _mean_age(world: dict[str, pd.DataFrame]) -> float:
    """Mean age at admission, in years."""
    stays = world["encounters"].merge(world["patients"][["patient_id", "birth_date"]])
    born = pd.to_datetime(stays["birth_date"])
    return ((stays["admitted_at"] - born).dt.days / 365.25).mean()


def _share(world: dict[str, pd.DataFrame], prefixes: tuple[str, ...]) -> float:
    return world["encounters"]["primary_dx_code"].str.startswith(prefixes).mean()


def test_the_period_follows_the_span_with_its_warm_up(small_settings, periods):
    config = small_settings.data_gen
    start = config.end_date
    assert start == dt.date(2025, 1, 1)  # the span: 24 months from 2023-01-01
    for name, world in periods.items():
        months = config.next_period.scenarios[name].length(config.next_period)
        admitted = pd.concat([world["warmup"], world["encounters"]])["admitted_at"]
        assert admitted.min() >= pd.Timestamp("2024-01-01")
        assert admitted.max() < pd.Timestamp(start) + pd.DateOffset(months=months)
        assert admitted.max() >= pd.Timestamp(start) + pd.DateOffset(months=months - 1)
        assert len(world["encounters"]) > 300 * months / 6


def test_an_older_sicker_population_is_older_and_sicker(periods):
    none, older = periods["none"], periods["older_sicker"]
    assert _mean_age(older) > _mean_age(none) + 3
    codes_per_stay = {
        name: world["diagnoses"]["encounter_id"].isin(world["encounters"]["encounter_id"]).sum()
        / len(world["encounters"])
        for name, world in (("none", none), ("older", older))
    }
    assert codes_per_stay["older"] > codes_per_stay["none"]


def test_a_respiratory_surge_brings_more_respiratory_admissions(periods):
    assert _share(periods["respiratory_surge"], RESPIRATORY) > 1.5 * _share(
        periods["none"], RESPIRATORY
    )


def test_a_coding_change_recodes_only_the_periods_stays(periods):
    none, recoded = periods["none"], periods["copd_recoded"]
    diagnoses = recoded["diagnoses"]
    in_period = diagnoses["encounter_id"].isin(recoded["encounters"]["encounter_id"])
    assert not diagnoses.loc[in_period, "code"].str.startswith("J44").any()
    assert (diagnoses.loc[in_period, "code"] == "J98.8").any()
    assert diagnoses.loc[~in_period, "code"].str.startswith("J44").any()  # the warm-up keeps them
    # The same patients and stays as without the change: only the records differ.
    pd.testing.assert_frame_equal(
        none["encounters"].drop(columns="primary_dx_code"),
        recoded["encounters"].drop(columns="primary_dx_code"),
    )


def test_no_shift_keeps_the_worlds_case_mix(small_world, periods):
    span = small_world["encounters"]
    span_age = _mean_age({"encounters": span, "patients": small_world["patients"]})
    assert _mean_age(periods["none"]) == pytest.approx(span_age, abs=2.5)
    span_share = span["primary_dx_code"].str.startswith(RESPIRATORY).mean()
    assert _share(periods["none"], RESPIRATORY) == pytest.approx(span_share, abs=0.04)


def test_an_unknown_scenario_or_key_is_refused_with_the_choices():
    settings = load_settings("small")
    with pytest.raises(ConfigError, match="choose one of none, prospective, older_sicker"):
        period.period_config(settings.data_gen, "alien_invasion")
    world = settings.data_gen.model_dump()
    world["next_period"]["scenarios"]["none"]["overrides"] = {"population.no_such_key": 1}
    with pytest.raises(ConfigError, match=r"no data_gen key 'population\.no_such_key'"):
        period.period_config(DataGenConfig.model_validate(world), "none")
