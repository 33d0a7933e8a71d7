"""The KPI tables: every SQL query against an independent pandas computation on the small world,
DuckDB against PostgreSQL, and the command that writes them."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg2
import pytest

from configs import load_settings
from features import build
from features.etl import run_etl
from monitoring import kpis

POSTGRES_URL = os.environ.get("TEST_KPI_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_available() -> bool:
    try:
        psycopg2.connect(POSTGRES_URL, connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


@pytest.fixture(scope="module")
def tables(small_clean, small_settings):
    return {name: small_clean[name] for name in kpis.SOURCE_TABLES} | kpis.helper_tables(
        small_clean, small_settings
    )


@pytest.fixture(scope="module")
def results(tables):
    return kpis.run_duckdb(tables)


def _cube(frame: pd.DataFrame, sets: list[tuple[str, ...]], measures) -> pd.DataFrame:
    """pandas' own grouping sets: ``measures(group)`` per group of each set, other labels 'all'."""
    labels = sorted({label for grouping in sets for label in grouping})
    rows = []
    for grouping in sets:
        groups = frame.groupby(list(grouping)) if grouping else [((), frame)]
        for key, group in groups:
            key = key if isinstance(key, tuple) else (key,)
            row = dict.fromkeys(labels, kpis.TOTAL) | dict(zip(grouping, key, strict=True))
            rows.append(row | measures(group))
    return pd.DataFrame(rows)


def _matches(sql: pd.DataFrame, expected: pd.DataFrame) -> None:
    labels = [c for c in expected.columns if c in kpis.LABELS]
    merged = sql.merge(expected, on=labels, how="outer", suffixes=("", "_pandas"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", labels]
    for column in expected.columns.difference(labels):
        np.testing.assert_allclose(
            merged[column], merged[f"{column}_pandas"], rtol=1e-9, atol=1e-12, err_msg=column
        )


FACILITY_MONTH = list(itertools.chain.from_iterable(
    itertools.combinations(("facility", "month"), n) for n in (2, 1, 0)
))  # fmt: skip
FACILITY_UNIT_MONTH = list(itertools.chain.from_iterable(
    itertools.combinations(("facility", "unit", "month"), n) for n in (3, 2, 1, 0)
))  # fmt: skip


def _stays(tables: dict, month_of: str = "discharged_at") -> pd.DataFrame:
    e = tables["encounters"].merge(tables["facilities"][["facility_id", "name"]], on="facility_id")
    return e.assign(
        facility=e["name"].astype(str),
        month=e[month_of].dt.strftime("%Y-%m"),
        los_days=(e["discharged_at"] - e["admitted_at"]).dt.total_seconds() / 86400,
    )


def test_length_of_stay_by_facility_and_month(tables, results):
    expected = _cube(
        _stays(tables),
        FACILITY_MONTH,
        lambda g: {
            "stays": len(g),
            "los_mean_days": g["los_days"].mean(),
            "los_median_days": g["los_days"].median(),
            "los_variance_days2": g["los_days"].var(),
        },
    )
    _matches(results["length_of_stay"], expected)


def test_readmissions_follow_the_feature_tables_labels_over_months_followed_whole(
    tables, results, small_settings
):
    stays = _stays(tables)
    data_end = stays["admitted_at"].max()
    windows = [30, 60, 90]
    labels = build.readmission_labels(tables["encounters"], windows, data_end)
    index = stays.join(labels)[~stays["discharge_disposition"].isin(["expired", "transfer"])]
    month_end = index["discharged_at"].dt.to_period("M").dt.end_time.dt.normalize()
    followed = data_end - (month_end + pd.Timedelta(days=1))

    def rates(group: pd.DataFrame) -> dict:
        row = {"index_stays": len(group)}
        for w in windows:
            complete = group[followed[group.index] >= pd.Timedelta(days=w)]
            row[f"followed_{w}d_stays"] = len(complete)
            row[f"readmitted_{w}d_rate"] = complete[f"readmitted_{w}d"].mean()
        return row

    expected = _cube(index, FACILITY_MONTH, rates)
    _matches(results["readmissions"], expected)
    # A month followed for every window rests on the same stays: 30 <= 60 <= 90 days.
    table = results["readmissions"].dropna(subset=["readmitted_90d_rate"])
    table = table[table["month"] != kpis.TOTAL]
    assert (table["readmitted_30d_rate"] <= table["readmitted_60d_rate"]).all()
    assert (table["readmitted_60d_rate"] <= table["readmitted_90d_rate"]).all()


def test_mortality_observed_expected_and_its_interval(tables, results):
    stays = _stays(tables).merge(tables["expected_mortality"], on="encounter_key")
    stays["died"] = (stays["discharge_disposition"] == "expired").astype(float)

    def measures(g: pd.DataFrame) -> dict:
        observed, expected = g["died"].sum(), g["expected_death"].sum()
        low = 0.0
        if observed > 0:
            low = observed * (1 - 1 / (9 * observed) - 1.96 / (3 * np.sqrt(observed))) ** 3
        high = (observed + 1) * (
            1 - 1 / (9 * (observed + 1)) + 1.96 / (3 * np.sqrt(observed + 1))
        ) ** 3
        return {
            "stays": len(g),
            "observed_deaths": observed,
            "expected_deaths": expected,
            "observed_to_expected": observed / expected,
            "observed_to_expected_low": low / expected,
            "observed_to_expected_high": high / expected,
        }

    _matches(results["mortality"], _cube(stays, FACILITY_MONTH, measures))


def test_expected_deaths_add_up_to_the_observed_over_the_whole_system(results):
    total = results["mortality"].query("facility == 'all' and month == 'all'").iloc[0]
    assert total["observed_to_expected"] == pytest.approx(1.0, abs=0.02)
    assert total["observed_to_expected_low"] < 1 < total["observed_to_expected_high"]


def test_treatment_success_by_protocol(tables, results):
    stays = _stays(tables).rename(columns={"treatment_protocol": "protocol"})
    sets = [
        ("protocol", "facility"),
        ("protocol", "month"),
        ("protocol",),
        ("facility", "month"),
        ("month",),
        ("facility",),
        (),
    ]
    expected = _cube(
        stays, sets, lambda g: {"stays": len(g), "success_rate": g["treatment_success"].mean()}
    )
    _matches(results["treatment_success"], expected)


def test_complications_by_procedure(tables, results):
    done = tables["procedures"][["encounter_key", "code", "description"]].drop_duplicates()
    stays = _stays(tables).merge(done, on="encounter_key")
    stays = stays.rename(columns={"code": "procedure_code", "description": "procedure"})
    sets = [("procedure_code", "procedure"), ("procedure_code", "procedure", "facility"), ()]
    expected = _cube(
        stays, sets, lambda g: {"stays": len(g), "complication_rate": g["complication"].mean()}
    )
    _matches(results["complications"], expected)


def _billed_stays(tables: dict) -> pd.DataFrame:
    stays = _stays(tables).merge(tables["claims"], on="encounter_key", validate="one_to_one")
    groups = tables["diagnosis_groups"].set_index("code")["diagnosis_group"]
    return stays.assign(diagnosis_group=stays["primary_dx_code"].map(groups))


def test_revenue_cost_and_margin_by_facility_month_payer_and_diagnosis_group(tables, results):
    sets = [*FACILITY_MONTH, ("payer",), ("payer", "facility"), ("diagnosis_group",)]

    def finance(g: pd.DataFrame) -> dict:
        revenue, cost = g["paid_usd"].sum(), g["total_cost_usd"].sum()
        medicare = g.loc[g["payer"] == "medicare", "drg_weight"]
        return {
            "stays": len(g),
            "charges_usd": g["charges_usd"].sum(),
            "revenue_usd": revenue,
            "cost_usd": cost,
            "margin_usd": revenue - cost,
            "margin_share": (revenue - cost) / revenue,
            "revenue_per_stay_usd": revenue / len(g),
            "margin_per_stay_usd": (revenue - cost) / len(g),
            "case_mix_index": g["drg_weight"].mean(),
            "medicare_case_mix_index": medicare.mean() if len(medicare) else np.nan,
            "denied_share": g["initially_denied"].mean(),
            "unpaid_share": 1 - revenue / g["allowed_usd"].sum(),
        }

    stays = _billed_stays(tables)
    assert set(stays["diagnosis_group"]) >= {"heart_failure", "sepsis", "other"}
    _matches(results["finance"], _cube(stays, sets, finance))


def test_payer_mix_shares_add_up_to_one_in_each_facility(tables, results):
    stays = _billed_stays(tables)
    rows = []
    for facility, group in [*stays.groupby("facility"), (kpis.TOTAL, stays)]:
        for payer, claims in group.groupby("payer"):
            rows.append(
                {
                    "facility": facility,
                    "payer": payer,
                    "stays": len(claims),
                    "revenue_usd": claims["paid_usd"].sum(),
                    "share_of_stays": len(claims) / len(group),
                    "share_of_revenue": claims["paid_usd"].sum() / group["paid_usd"].sum(),
                }
            )
    _matches(results["payer_mix"], pd.DataFrame(rows))
    shares = results["payer_mix"].groupby("facility")[["share_of_stays", "share_of_revenue"]].sum()
    np.testing.assert_allclose(shares, 1.0)


def test_costs_per_encounter_and_patient_by_payer(tables, results):
    stays = _stays(tables).merge(tables["patients"][["patient_key", "payer"]], on="patient_key")
    sets = [*FACILITY_MONTH, ("payer",), ("payer", "facility")]
    expected = _cube(
        stays,
        sets,
        lambda g: {
            "encounters": len(g),
            "patients": g["patient_key"].nunique(),
            "total_cost_usd": g["total_cost_usd"].sum(),
            "cost_per_encounter_usd": g["total_cost_usd"].mean(),
            "cost_per_patient_usd": g["total_cost_usd"].sum() / g["patient_key"].nunique(),
        },
    )
    _matches(results["costs"], expected)


def test_bed_utilisation_and_occupancy_peaks(tables, results):
    e, facilities = tables["encounters"], tables["facilities"]
    rows = []
    for day in tables["calendar_days"]["day"]:
        end = day + pd.Timedelta(days=1)
        inside = (e["admitted_at"] < end) & (e["discharged_at"] > day)
        overlap = (e["discharged_at"].clip(upper=end) - e["admitted_at"].clip(lower=day))[inside]
        bed_days = (overlap.dt.total_seconds() / 86400).groupby(e["facility_id"][inside]).sum()
        census = (inside & (e["admitted_at"] <= day)).groupby(e["facility_id"]).sum()
        rows.extend(
            {
                "facility": f.name,
                "month": day.strftime("%Y-%m"),
                "beds": f.staffed_beds,
                "bed_days": bed_days.get(f.facility_id, 0.0),
                "census": census.get(f.facility_id, 0),
            }
            for f in facilities.itertuples()
        )
    expected = _cube(
        pd.DataFrame(rows),
        FACILITY_MONTH,
        lambda g: {
            "facility_days": len(g),
            "utilisation": g["bed_days"].sum() / g["beds"].sum(),
            "peak_occupancy": (g["census"] / g["beds"]).max(),
            "peak_midnight_census": g["census"].max(),
        },
    )
    _matches(results["bed_occupancy"], expected)


def test_emergency_department_waits_and_walkouts(tables, results):
    v = tables["ed_visits"].merge(tables["facilities"][["facility_id", "name"]], on="facility_id")
    v = v.assign(
        facility=v["name"].astype(str),
        month=v["arrival_at"].dt.strftime("%Y-%m"),
        wait=(v["provider_at"] - v["arrival_at"]).dt.total_seconds() / 60,
    )
    expected = _cube(
        v,
        FACILITY_MONTH,
        lambda g: {
            "visits": len(g),
            "wait_median_minutes": g["wait"].quantile(0.5),
            "wait_p90_minutes": g["wait"].quantile(0.9),
            "left_without_being_seen_rate": (g["disposition"] == "left_without_being_seen").mean(),
        },
    )
    _matches(results["ed_waits"], expected)


def test_satisfaction_and_net_promoter_score(tables, results):
    def measures(g: pd.DataFrame) -> dict:
        answers = g["satisfaction_score"].dropna().astype(float)
        return {
            "responses": len(answers),
            "satisfaction_mean": answers.mean(),
            "net_promoter_score": 100 * ((answers >= 9).mean() - (answers <= 6).mean()),
        }

    stays = _stays(tables).assign(unit=lambda e: e["ward_unit"])
    _matches(results["satisfaction"], _cube(stays, FACILITY_UNIT_MONTH, measures))


def test_nurse_staffing_per_patient_day_and_unsafe_shifts(tables, results, small_settings):
    shifts = tables["nurse_staffing"].merge(
        tables["shift_census"], on=["facility_id", "unit", "shift_start"]
    )
    names = tables["facilities"].set_index("facility_id")["name"]
    ratio = shifts["unit"].map(small_settings.operations.staffing.safe_patients_per_nurse)
    shifts = shifts.assign(
        facility=shifts["facility_id"].map(names),
        month=shifts["shift_start"].dt.strftime("%Y-%m"),
        unsafe=shifts["census"] > ratio * shifts["worked_rn"].clip(lower=1) + 1e-9,
    )

    def measures(g: pd.DataFrame) -> dict:
        patient_days = g["census"].sum() / 2
        worked = g["worked_rn"].sum()
        return {
            "shifts": len(g),
            "patient_days": patient_days,
            "patients_per_nurse": g["census"].sum() / worked,
            "rn_hours_per_patient_day": g["rn_hours"].sum() / patient_days,
            "unsafe_shift_rate": g["unsafe"].mean(),
            "overtime_share": g["overtime_rn"].sum() / worked,
            "agency_share": g["agency_rn"].sum() / worked,
            "nursing_cost_per_patient_day_usd": g["cost_usd"].sum() / patient_days,
        }

    _matches(results["nurse_staffing"], _cube(shifts, FACILITY_UNIT_MONTH, measures))


def _ed_visits(tables: dict) -> pd.DataFrame:
    v = tables["ed_visits"]
    names = tables["facilities"].set_index("facility_id")["name"]

    def minutes(later: str, earlier: str = "arrival_at") -> pd.Series:
        return (v[later] - v[earlier]).dt.total_seconds() / 60

    return v.assign(
        facility=v["facility_id"].map(names),
        esi_level=v["esi_level"].astype(str),
        to_triage=minutes("triage_at"),
        to_provider=minutes("provider_at"),
        to_departure=minutes("departure_at"),
        boarding_hours=minutes("departure_at", "admit_decision_at") / 60,
    )


def test_emergency_department_flow_by_triage_level(tables, results):
    def measures(g: pd.DataFrame) -> dict:
        return {
            "visits": len(g),
            "triage_median_minutes": g["to_triage"].median(),
            "provider_median_minutes": g["to_provider"].median(),
            "departure_median_minutes": g["to_departure"].median(),
            "admitted_rate": (g["disposition"] == "admitted").mean(),
            "left_without_being_seen_rate": (g["disposition"] == "left_without_being_seen").mean(),
            "boarding_median_hours": g["boarding_hours"].median(),
            "boarding_p90_hours": g["boarding_hours"].quantile(0.9),
        }

    sets = [("facility", "esi_level"), ("facility",), ("esi_level",), ()]
    _matches(results["ed_flow"], _cube(_ed_visits(tables), sets, measures))


def test_emergency_department_waits_and_walkouts_day_by_day(tables, results):
    v = _ed_visits(tables).assign(day=lambda v: v["arrival_at"].dt.strftime("%Y-%m-%d"))

    def measures(g: pd.DataFrame) -> dict:
        return {
            "visits": len(g),
            "wait_median_minutes": g["to_provider"].median(),
            "left_without_being_seen_rate": (g["disposition"] == "left_without_being_seen").mean(),
        }

    _matches(results["ed_days"], _cube(v, [("facility", "day"), ("day",)], measures))


def test_emergency_department_arrivals_and_patients_seen_per_day_against_the_providers(
    tables, results
):
    days = tables["calendar_days"]["day"]
    first, end = days.min(), days.max() + pd.Timedelta(days=1)
    v = _ed_visits(tables)
    events = pd.concat(
        [
            v[["facility", "arrival_at"]]
            .rename(columns={"arrival_at": "at"})
            .assign(arrived=1.0, seen=0.0),
            v.loc[v["provider_at"].notna(), ["facility", "provider_at"]]
            .rename(columns={"provider_at": "at"})
            .assign(arrived=0.0, seen=1.0),
        ]
    )
    events = events[(events["at"] >= first) & (events["at"] < end)]
    weekday = (events["at"].dt.dayofweek + 1) % 7  # 0 Sunday, as SQL's dow
    events = events.assign(weekday=weekday.astype(str), hour=events["at"].dt.hour.astype(str))
    days_of = ((days.dt.dayofweek + 1) % 7).astype(str).value_counts()
    grid = tables["facilities"][["facility_id", "name"]].merge(
        pd.DataFrame({"hour": range(24)}), how="cross"
    )
    on_duty = (
        grid.merge(tables["ed_providers"], on=["facility_id", "hour"], how="left")
        .assign(facility=lambda p: p["name"], hour=lambda p: p["hour"].astype(str))
        .merge(pd.DataFrame({"weekday": [str(d) for d in range(7)]}), how="cross")
    )
    labels = ("facility", "weekday", "hour")
    rows = []
    for grouping in itertools.chain.from_iterable(
        itertools.combinations(labels, n) for n in (3, 2, 1, 0)
    ):
        for key, duty in on_duty.groupby(list(grouping)) if grouping else [((), on_duty)]:
            row = dict.fromkeys(labels, kpis.TOTAL) | dict(
                zip(grouping, key if isinstance(key, tuple) else (key,), strict=True)
            )
            group = events
            for label in grouping:
                group = group[group[label] == row[label]]
            n_days = len(days) if row["weekday"] == kpis.TOTAL else days_of[row["weekday"]]
            arrived, seen = group["arrived"].sum() / n_days, group["seen"].sum() / n_days
            provider_hours = duty["providers"].sum(min_count=1) / (
                7 if row["weekday"] == kpis.TOTAL else 1
            )
            rows.append(
                row
                | {
                    "arrivals_per_day": arrived,
                    "seen_per_day": seen,
                    "provider_hours_per_day": provider_hours,
                    "arrivals_per_provider_hour": arrived / provider_hours,
                }
            )
    _matches(results["ed_arrivals"], pd.DataFrame(rows))


def test_an_ed_hour_without_its_provider_schedule_keeps_its_arrivals(tables, results):
    providers = tables["ed_providers"]
    lost = providers.index[(providers["facility_id"] == 1) & (providers["hour"] == 14)]
    partial = kpis.run_duckdb(tables | {"ed_providers": providers.drop(index=lost)})
    name = tables["facilities"].set_index("facility_id").loc[1, "name"]

    def hour_14(table: pd.DataFrame) -> pd.Series:
        (row,) = table[
            (table["facility"] == name) & (table["weekday"] == kpis.TOTAL) & (table["hour"] == "14")
        ].itertuples(index=False)
        return pd.Series(row._asdict())

    before, after = hour_14(results["ed_arrivals"]), hour_14(partial["ed_arrivals"])
    assert after["arrivals_per_day"] == pytest.approx(before["arrivals_per_day"])
    assert np.isnan(after["provider_hours_per_day"])
    assert np.isnan(after["arrivals_per_provider_hour"])


@pytest.mark.skipif(
    not _postgres_available() and not os.environ.get("CI"),
    reason="PostgreSQL is not reachable at 127.0.0.1:5432 (CI provides it)",
)
def test_postgresql_gives_the_same_tables_as_duckdb(tables, results):
    on_postgres = kpis.run_postgres(tables, POSTGRES_URL, f"kpi_test_{os.getpid()}")
    assert on_postgres.keys() == results.keys()
    for name, table in results.items():
        pd.testing.assert_frame_equal(on_postgres[name], table, rtol=1e-9, obj=name)


def test_the_command_writes_readable_tables_without_identifiers(
    small_world_dir, small_etl, small_world, tmp_path
):
    command = [sys.executable, "-m", "monitoring", "kpis", "--profile", "small",
               "--data-dir", str(small_world_dir), "--run", "check",
               f"reports_dir={tmp_path}"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "bed utilisation" in done.stdout
    folder = tmp_path / "check" / "kpis"
    assert {p.name for p in folder.iterdir()} == {f"{n}.csv" for n in kpis.queries()} | {"kpis.md"}
    text = "\n".join(p.read_text() for p in folder.iterdir())
    patients = small_world["patients"]
    for value in [*patients["ssn"].head(200), *patients["mrn"].head(200)]:
        assert value not in text
    keys = pd.read_parquet(small_world_dir / "clean" / "encounters.parquet")["patient_key"]
    for key in keys.head(200):
        assert key not in text


def test_the_command_without_clean_tables_names_the_step_to_run(tmp_path):
    command = [sys.executable, "-m", "monitoring", "kpis", "--profile", "small",
               "--data-dir", str(tmp_path), f"reports_dir={tmp_path / 'reports'}"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert "make etl" in done.stderr
    assert not (tmp_path / "reports").exists()


def test_the_sql_over_the_partitioned_files_gives_the_tables_computed_in_memory(
    small_world_dir, small_etl, small_settings, results
):
    out_of_core = kpis.load_tables(small_world_dir / "clean", small_settings)
    assert isinstance(out_of_core["encounters"], Path)
    for name, table in kpis.run_duckdb(out_of_core).items():
        pd.testing.assert_frame_equal(table, results[name], rtol=1e-9, obj=name)


@pytest.mark.slow
def test_kpis_of_a_world_in_four_partitions_match_those_of_one(
    small_world_dir, key_root, results, tmp_path
):
    for folder in ("raw", "oracle"):
        shutil.copytree(small_world_dir / folder, tmp_path / folder)
    settings = load_settings("small", ["engine.partition_patients=1000", "engine.local_workers=2"])
    run_etl(settings, tmp_path, key_root)
    tables = kpis.load_tables(tmp_path / "clean", settings)
    for name, table in kpis.run_duckdb(tables).items():
        # The risk-adjustment model sees the stays in another order: its fit differs in rounding.
        pd.testing.assert_frame_equal(table, results[name], rtol=1e-6, obj=name)
