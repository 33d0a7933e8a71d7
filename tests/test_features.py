"""Feature tables: no leakage after the prediction time, one case as in the batch, honest splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from configs import load_settings, vocabulary
from features import build, cases, deidentify, dictionary, partitions, report
from features.build import admission_cases, discharge_cases, ward_observations
from features.interactions import KnowledgeBase

TASKS = load_settings("small").task_names


@pytest.fixture(scope="module")
def config(small_settings):
    return small_settings.features


@pytest.fixture(scope="module")
def kb(small_settings) -> KnowledgeBase:
    return KnowledgeBase.of(small_settings)


def _perturb_after(clean: dict[str, pd.DataFrame], cutoff: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Change or delete everything recorded after ``cutoff``; keep everything recorded before."""
    c = {name: frame.copy() for name, frame in clean.items()}
    e = c["encounters"]
    removed = set(e.loc[e["admitted_at"] > cutoff, "encounter_key"])
    e = e[e["admitted_at"] <= cutoff].copy()
    open_at_cutoff = e["discharged_at"] > cutoff
    e.loc[open_at_cutoff, "discharged_at"] += pd.Timedelta(days=9)
    e.loc[open_at_cutoff, "discharge_disposition"] = "snf"
    e.loc[open_at_cutoff, "total_cost_usd"] *= 10
    e.loc[open_at_cutoff, "icu_days"] = 0.0
    e.loc[open_at_cutoff, "complication"] = ~e.loc[open_at_cutoff, "complication"]
    later_event = e["deterioration_at"] > cutoff
    e.loc[later_event, "deterioration_at"] = pd.NaT
    e.loc[later_event, "deterioration_event"] = None
    c["encounters"] = e.reset_index(drop=True)
    still_open = set(e.loc[open_at_cutoff, "encounter_key"])
    for table, time, column, change in (
        ("vitals", "observed_at", "heart_rate", 40.0),
        ("labs", "drawn_at", "value", 3.0),
    ):
        frame = c[table][~c[table]["encounter_key"].isin(removed)].copy()
        frame.loc[frame[time] > cutoff, column] += change
        c[table] = frame.reset_index(drop=True)
    procedures = c["procedures"]
    c["procedures"] = procedures[procedures["performed_at"] <= cutoff].reset_index(drop=True)
    d = c["diagnoses"]
    recorded_later = d["encounter_key"].isin(removed) | (
        d["encounter_key"].isin(still_open) & ~d["present_on_admission"]
    )
    c["diagnoses"] = d[~recorded_later].reset_index(drop=True)
    ed = c["ed_visits"]
    c["ed_visits"] = ed[ed["arrival_at"] <= cutoff].reset_index(drop=True)
    orders = c["medications"]
    orders = orders[~orders["encounter_key"].isin(removed) & (orders["ordered_at"] <= cutoff)]
    orders = orders.assign(
        stopped_at=orders["stopped_at"].where(
            orders["stopped_at"] <= cutoff, orders["stopped_at"] + pd.Timedelta(days=3)
        )
    )
    c["medications"] = orders.reset_index(drop=True)
    return c


@pytest.fixture(scope="module")
def cutoff(small_clean) -> pd.Timestamp:
    admitted = small_clean["encounters"]["admitted_at"]
    return admitted.min() + (admitted.max() - admitted.min()) * 0.55


def _compare(before: pd.DataFrame, after: pd.DataFrame, keys: list[str]) -> None:
    before, after = before.set_index(keys).sort_index(), after.set_index(keys).sort_index()
    after = after.loc[before.index]
    pd.testing.assert_frame_equal(before, after, check_dtype=False)


@pytest.mark.parametrize("task", ["readmission", "los", "cost"])
def test_stay_features_ignore_everything_recorded_after_the_prediction_time(
    small_clean, config, kb, cutoff, task
):
    perturbed = _perturb_after(small_clean, cutoff)
    assert len(perturbed["encounters"]) < len(small_clean["encounters"])  # the perturbation bites
    frames = []
    for clean in (small_clean, perturbed):
        admission = admission_cases(clean, config)
        if task == "readmission":
            stays = discharge_cases(clean, admission)
            features = cases.discharge_features(stays, kb)
        else:  # LOS and cost share the features known at admission
            stays, features = admission, cases.admission_features(admission, kb)
        frame = pd.concat([stays[["encounter_key", "prediction_time"]], features], axis=1)
        frames.append(frame[frame["prediction_time"] <= cutoff])
    assert len(frames[0]) > 100
    _compare(frames[0], frames[1], ["encounter_key"])


def test_deterioration_features_ignore_everything_recorded_after_the_observation(
    small_clean, config, kb, cutoff
):
    perturbed = _perturb_after(small_clean, cutoff)
    frames = []
    for clean in (small_clean, perturbed):
        admission = admission_cases(clean, config)
        observations, _, features = ward_observations(clean, config, kb, admission)
        frame = pd.concat([observations[["stay_key", "observed_at"]], features], axis=1)
        frames.append(frame[frame["observed_at"] <= cutoff])
    assert len(frames[0]) > 1000
    _compare(frames[0], frames[1], ["stay_key", "observed_at"])


def test_one_case_gets_the_same_features_as_in_the_batch(small_clean, config, kb):
    admission = admission_cases(small_clean, config)
    discharge = discharge_cases(small_clean, admission)
    batch_admission = cases.admission_features(admission, kb)
    batch_discharge = cases.discharge_features(discharge, kb)
    for row in np.random.default_rng(0).choice(len(admission), 25, replace=False):
        one = cases.admission_features(admission.iloc[[row]], kb)
        pd.testing.assert_frame_equal(one, batch_admission.iloc[[row]], check_dtype=False)
        one = cases.discharge_features(discharge.iloc[[row]], kb)
        pd.testing.assert_frame_equal(one, batch_discharge.iloc[[row]], check_dtype=False)


def test_one_stays_vitals_get_the_same_features_as_in_the_batch(small_clean, config, kb):
    admission = admission_cases(small_clean, config)
    observations, stays, batch = ward_observations(small_clean, config, kb, admission)
    labs = small_clean["labs"].rename(columns={"encounter_key": "stay_key"})
    orders = small_clean["medications"].rename(columns={"encounter_key": "stay_key"})
    for stay in observations["stay_key"].drop_duplicates().sample(10, random_state=1):
        mine = observations["stay_key"] == stay
        alone = cases.ward_features(
            stays[stays["stay_key"] == stay],
            observations[mine],
            labs[labs["stay_key"] == stay],
            orders[orders["stay_key"] == stay],
            config.tasks.trend_hours,
            kb,
        )
        pd.testing.assert_frame_equal(alone, batch[mine.to_numpy()], check_dtype=False)


def test_cases_as_plain_columns_get_the_same_features_as_frames(small_clean, config, kb):
    admission = admission_cases(small_clean, config)
    discharge = discharge_cases(small_clean, admission).head(200)
    admission = admission.head(200)

    def columns(frame: pd.DataFrame) -> dict:
        return {name: frame[name].tolist() for name in frame.columns}

    pd.testing.assert_frame_equal(
        cases.admission_features(columns(admission), kb),
        cases.admission_features(admission, kb).reset_index(drop=True),
    )
    pd.testing.assert_frame_equal(
        cases.discharge_features(columns(discharge), kb),
        cases.discharge_features(discharge, kb).reset_index(drop=True),
    )


NO_ORDERS = {"stay_key": [], "rxnorm_code": [], "source": [], "ordered_at": [], "stopped_at": []}
NO_LABS = {"stay_key": [], "drawn_at": [], "test": [], "value": []}


def test_trends_and_labs_never_reach_into_another_stay(kb):
    hour = pd.Timedelta(hours=1)
    start = pd.Timestamp("2024-03-01 08:00")
    stays = pd.DataFrame(
        {
            "stay_key": ["a", "b"], "admitted_at": [start, start + 10 * hour],
            "age_years": [70, 80], "sex": ["F", "M"], "admission_type": ["emergency"] * 2,
            "primary_dx_code": ["J44.1", "I50.9"], "comorbidity_codes": [[], ["E11.22"]],
        }
    )  # fmt: skip
    vitals = {"respiratory_rate": 18.0, "spo2": 96.0, "temperature_c": 37.0, "systolic_bp": 120.0,
              "on_oxygen": False, "consciousness": "A"}  # fmt: skip
    observations = pd.DataFrame(
        [
            {"stay_key": "a", "observed_at": start + 1 * hour, "heart_rate": 80.0, **vitals},
            {"stay_key": "b", "observed_at": start + 11 * hour, "heart_rate": 120.0, **vitals},
            {"stay_key": "a", "observed_at": start + 5 * hour, "heart_rate": 90.0, **vitals},
            {"stay_key": "b", "observed_at": start + 15 * hour, "heart_rate": 100.0, **vitals},
        ]
    )
    labs = pd.DataFrame(
        {"stay_key": ["a", "b"], "drawn_at": [start + 2 * hour, start + 10 * hour],
         "test": ["lactate", "sodium"], "value": [3.1, 131.0]}
    )  # fmt: skip
    features = cases.ward_features(stays, observations, labs, NO_ORDERS, [4], kb)
    assert features["observations_so_far"].tolist() == [1, 1, 2, 2]
    assert features["heart_rate_change_4h"].tolist()[2:] == [10.0, -20.0]
    assert np.isnan(features["heart_rate_change_4h"].tolist()[:2]).all()
    assert features["heart_rate_max_4h"].tolist() == [80.0, 120.0, 90.0, 120.0]
    assert features["hours_since_admission"].tolist() == [1.0, 1.0, 5.0, 5.0]
    assert np.isnan(features.loc[[0, 1], "latest_lactate"]).all()
    assert features.loc[2, "latest_lactate"] == 3.1
    assert np.isnan(features.loc[3, "latest_lactate"])
    assert features.loc[3, "latest_sodium"] == 131.0
    assert features["hours_since_lab"].tolist()[1:] == [1.0, 3.0, 5.0]


def test_a_ward_observation_counts_the_orders_active_then_and_only_its_stays(kb, small_settings):
    hour = pd.Timedelta(hours=1)
    start = pd.Timestamp("2024-03-01 08:00")
    code = {n: d.rxcui for n, d in small_settings.data_gen.medications.formulary.items()}
    stays = pd.DataFrame(
        {
            "stay_key": ["a", "b"], "admitted_at": [start, start],
            "age_years": [70, 80], "sex": ["F", "M"], "admission_type": ["emergency"] * 2,
            "primary_dx_code": ["J44.1", "I50.9"], "comorbidity_codes": [[], []],
        }
    )  # fmt: skip
    vitals = {"heart_rate": 80.0, "respiratory_rate": 18.0, "spo2": 96.0, "temperature_c": 37.0,
              "systolic_bp": 120.0, "on_oxygen": False, "consciousness": "A"}  # fmt: skip
    observations = pd.DataFrame(
        [{"stay_key": k, "observed_at": start + h * hour, **vitals}
         for k, h in (("a", 1), ("a", 5), ("a", 9), ("b", 2))]
    )  # fmt: skip
    orders = pd.DataFrame(
        {
            "stay_key": ["a", "a", "a", "b"],
            "rxnorm_code": [code["oxycodone"], code["lorazepam"], code["warfarin"],
                            code["ibuprofen"]],
            "source": ["inpatient", "inpatient", "home", "home"],
            "ordered_at": [start + 2 * hour, start + 4 * hour, start, start + 3 * hour],
            "stopped_at": [pd.NaT, start + 6 * hour, pd.NaT, pd.NaT],
        }
    )  # fmt: skip
    features = cases.ward_features(stays, observations, NO_LABS, orders, [4], kb)
    assert features["medicines"].tolist() == [1.0, 3.0, 2.0, 0.0]  # b's ibuprofen starts at 3 h
    assert features["home_medicines"].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert features["on_opioid"].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert features["on_benzodiazepine"].tolist() == [0.0, 1.0, 0.0, 0.0]  # stopped at 6 h
    assert features["severe_interacting_pairs"].tolist() == [0.0, 1.0, 0.0, 0.0]  # opioid+benzo


def test_cases_with_missing_vitals_and_labs_still_get_features(kb):
    case = {
        "age_years": 70, "sex": "F", "payer": "medicare", "admission_type": "emergency",
        "admission_source": "emergency_department", "unit": "medicine", "facility_id": 1,
        "facility_type": "community", "primary_dx_code": "J44.1",
        "comorbidity_codes": ["I50.9", "E11.22"], "prior_admissions_12m": 2, "ed_visits_6m": 1,
        "treatment_protocol": "standard", "admit_on_oxygen": np.nan, "admit_consciousness": None,
        "medication_codes": [], "home_medication_codes": None,
        **{f"admit_{s}": np.nan for s in (*cases.VITAL_SIGNS, *vocabulary.LAB_TESTS)},
    }  # fmt: skip
    case = pd.DataFrame([case])
    features = cases.admission_features(case, kb)
    assert features.loc[0, "charlson_index"] == 1 + 2
    assert features.loc[0, "dx_group_copd_asthma"] == 1
    assert np.isnan(features.loc[0, "admit_news2_score"])
    assert list(features.columns) == cases.feature_columns("admission", [4, 12, 24])


@pytest.mark.parametrize("task", TASKS)
def test_no_patient_is_in_two_splits_and_the_test_period_is_the_latest(small_features, task):
    table = small_features[task]
    assert table.groupby("patient_key")["split"].nunique().max() == 1
    test_start = table.loc[table["split"] == "test", "prediction_time"].min()
    assert table.loc[table["split"] != "test", "prediction_time"].max() < test_start
    assert set(table["split"]) == {"train", "validation", "test"}


@pytest.mark.parametrize("task", TASKS)
def test_every_column_is_documented_and_the_oracle_is_never_a_feature(
    small_features, small_settings, task
):
    entries = [e for e in dictionary.rows(small_settings) if e["task"] == task]
    assert [e["column"] for e in entries] == list(small_features[task].columns)
    r = build.roles(small_settings.tasks[task], small_settings.features)
    assert not set(r.features) & set(r.oracle + r.groups + r.labels)
    assert all(c.startswith("oracle_") for c in r.oracle)


def test_a_task_declaring_a_label_its_case_type_lacks_is_refused_by_name(
    small_clean, small_settings, key_root, small_world_dir
):
    oracle = build.load_oracle(
        partitions.split_world(small_world_dir, build.ORACLE_TABLES, 1),
        0,
        deidentify.load_key(small_settings.features.etl, key_root),
    )
    wrong = small_settings.tasks["los"].model_copy(
        update={"target": "days_to_recovery", "labels": []}
    )
    with pytest.raises(ValueError, match="days_to_recovery"):
        build.build_tables(
            small_clean, oracle, small_settings.features, KnowledgeBase.of(small_settings),
            {"los": wrong},
        )  # fmt: skip


def test_the_committed_data_dictionary_is_up_to_date():
    assert Path("docs/data_dictionary.md").read_text() == dictionary.markdown(load_settings())


def test_readmission_labels_count_only_unplanned_admissions_within_the_window():
    def day(n: int) -> pd.Timestamp:
        return pd.Timestamp("2024-01-01") + pd.Timedelta(days=n)

    stays = [  # patient, admitted day, discharged day, type, disposition
        ("a", 0, 2, "emergency", "home"),
        ("a", 20, 22, "elective", "home"),  # planned: not a readmission
        ("a", 60, 63, "emergency", "home"),
        ("b", 0, 1, "emergency", "home"),
        ("b", 32, 33, "urgent", "home"),  # 31 days after discharge
        ("c", 0, 1, "emergency", "home"),
        ("c", 31, 32, "emergency", "expired"),  # exactly 30 days after discharge; then died
        ("d", 0, 1, "emergency", "transfer"),  # to another hospital: not an index stay
        ("d", 5, 9, "emergency", "home"),
    ]
    encounters = pd.DataFrame(
        {
            "patient_key": [s[0] for s in stays],
            "admitted_at": [day(s[1]) for s in stays],
            "discharged_at": [day(s[2]) for s in stays],
            "admission_type": [s[3] for s in stays],
            "discharge_disposition": [s[4] for s in stays],
        }
    )
    labels = build.readmission_labels(encounters, [30, 90], data_end=day(150))
    assert labels["readmitted_30d"].tolist()[:6] == [0, 0, 0, 0, 0, 1]
    assert labels["readmitted_30d"].iloc[6:8].isna().all()  # a death and a transfer: no label
    assert labels["readmitted_30d"].iloc[8] == 0
    assert labels["readmitted_90d"].tolist()[:2] == [1, 1]
    assert np.isnan(labels["readmitted_90d"].iloc[2])  # discharged day 63: no 90 days of follow-up
    assert labels["readmitted_90d"].tolist()[3:6] == [1, 0, 1]


def test_feature_tables_carry_the_oracle_and_plausible_labels(small_features):
    readmission, deterioration = small_features["readmission"], small_features["deterioration"]
    assert readmission["oracle_p_readmit_30d"].notna().all()
    assert 0.05 < readmission["readmitted_30d"].mean() < 0.2
    assert deterioration["oracle_p_deterioration_24h"].notna().all()
    assert 0.003 < deterioration["deteriorated_24h"].mean() < 0.05
    los = small_features["los"]
    assert los["los_days"].mean() == pytest.approx(los["oracle_expected_los_days"].mean(), rel=0.1)


@pytest.mark.parametrize(
    ("auroc", "low", "high", "verdict"),
    [
        (0.68, 0.64, 0.72, "ok"),  # in the plausible range
        (0.611, 0.57, 0.66, "unsure"),  # below it, but the interval reaches in: too few rows
        (0.55, 0.52, 0.58, "off"),  # the whole interval below it
        (0.80, 0.77, 0.83, "off"),  # the whole interval above it
    ],
)
def test_a_clinical_score_is_off_only_when_its_whole_interval_is_implausible(
    auroc, low, high, verdict
):
    check = report.ScoreCheck(
        "readmission", "lace_score", "30-day readmission", auroc, low, high, "0.68",
        "van Walraven 2010", (0.62, 0.75), 0.73,
    )  # fmt: skip
    assert check.verdict == verdict


def test_the_realism_report_checks_every_published_score_of_every_task(
    small_features, small_settings
):
    tables = {small_settings.tasks[t].table: small_features[t] for t in small_settings.task_names}
    checks = report.realism(tables, small_settings.tasks)
    published = {(task, score) for task, c in small_settings.tasks.items() for score in c.published}
    assert {(c.task, c.score) for c in checks} == published
    for c in checks:
        assert 0.5 < c.low <= c.auroc <= c.high < 1.0
        assert c.verdict != "off", c  # the world stays realistic, even small
