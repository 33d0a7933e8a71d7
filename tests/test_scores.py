"""Clinical scores against the point tables of ../shared/CLINICAL.md, band boundaries included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from features import scores


def _charlson(codes: list[str]) -> dict:
    return {name: values[0] for name, values in scores.charlson_conditions([codes]).items()}


@pytest.mark.parametrize(
    ("code", "condition", "weight"),
    [
        ("I21.4", "myocardial_infarction", 1),
        ("I25.2", "myocardial_infarction", 1),
        ("I50.9", "congestive_heart_failure", 1),
        ("I42.7", "congestive_heart_failure", 1),
        ("I73.9", "peripheral_vascular", 1),
        ("I63.9", "cerebrovascular", 1),
        ("G45.9", "cerebrovascular", 1),
        ("F03.90", "dementia", 1),
        ("J44.1", "chronic_pulmonary", 1),
        ("M06.9", "rheumatic", 1),
        ("K25.7", "peptic_ulcer", 1),
        ("K74.60", "mild_liver", 1),
        ("E11.9", "diabetes_uncomplicated", 1),
        ("E11.65", "diabetes_uncomplicated", 1),
        ("E11.22", "diabetes_complicated", 2),
        ("G81.90", "hemiplegia", 2),
        ("N18.30", "renal", 2),
        ("C34.90", "malignancy", 2),
        ("C50.919", "malignancy", 2),
        ("I85.00", "moderate_severe_liver", 3),
        ("C78.00", "metastatic_tumour", 6),
        ("C80.1", "metastatic_tumour", 6),
        ("B20", "hiv_aids", 6),
    ],
)
def test_each_quan_code_maps_to_its_condition_and_weight(code, condition, weight):
    row = _charlson([code])
    assert row[condition]
    assert row["charlson_index"] == weight


@pytest.mark.parametrize("code", ["I10", "E66.9", "I48.91", "I26.99", "C44.91", "I20.9", "J18.9"])
def test_codes_outside_the_charlson_conditions_score_nothing(code):
    assert _charlson([code])["charlson_index"] == 0


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (["E11.9", "E11.22"], 2),  # diabetes counted once, at the complicated weight
        (["K74.60", "I85.00"], 3),  # liver disease counted once, severe
        (["C18.9", "C78.7"], 6),  # malignancy counted once, metastatic
        (["I50.9", "I50.23"], 1),  # one condition coded twice
        (["I21.4", "J44.9", "N18.4", "C78.00"], 1 + 1 + 2 + 6),
    ],
)
def test_milder_and_severer_forms_count_once(codes, expected):
    assert _charlson(codes)["charlson_index"] == expected


@pytest.mark.parametrize(
    ("los_days", "points"),
    [(0.0, 0), (0.99, 0), (1.0, 1), (2.5, 2), (3.0, 3), (3.99, 3), (4.0, 4), (6.9, 4), (7.0, 5),
     (13.9, 5), (14.0, 7), (40.0, 7)],
)  # fmt: skip
def test_lace_length_of_stay_bands(los_days, points):
    assert scores.lace_length_points(np.array([los_days]))[0] == points


@pytest.mark.parametrize(("charlson", "points"), [(0, 0), (1, 1), (2, 2), (3, 3), (4, 5), (9, 5)])
def test_lace_comorbidity_bands(charlson, points):
    assert scores.lace_comorbidity_points(np.array([charlson]))[0] == points


def test_lace_sums_its_components_and_caps_ed_visits():
    total = scores.lace_score(
        los_days=np.array([0.5, 8.0, 20.0]),
        acute=np.array([False, True, True]),
        charlson=np.array([0, 2, 7]),
        ed_visits_6m=np.array([0, 3, 9]),
    )
    assert total.tolist() == [0, 5 + 3 + 2 + 3, 7 + 3 + 5 + 4]
    assert total.max() == 19


@pytest.mark.parametrize(
    ("admissions", "points"), [(0, 0), (1, 0), (2, 2), (5, 2), (6, 5), (12, 5)]
)
def test_hospital_prior_admission_bands(admissions, points):
    assert scores.hospital_admission_points(np.array([admissions]))[0] == points


def test_hospital_score_components_and_boundaries():
    total = scores.hospital_score(
        haemoglobin=np.array([11.9, 12.0, np.nan, 8.0]),
        oncology=np.array([True, False, False, True]),
        sodium=np.array([134.9, 135.0, np.nan, 120.0]),
        procedure=np.array([True, False, False, True]),
        urgent=np.array([True, False, True, True]),
        admissions_12m=np.array([2, 1, 0, 7]),
        los_days=np.array([5.0, 4.99, 1.0, 10.0]),
    )
    assert total.tolist() == [1 + 2 + 1 + 1 + 1 + 2 + 2, 0, 1, 13]


def _news2(**vitals) -> dict:
    normal = {
        "respiratory_rate": 16, "spo2": 97, "on_oxygen": False, "systolic_bp": 120,
        "heart_rate": 70, "consciousness": "A", "temperature_c": 37.0,
    }  # fmt: skip
    normal.update(vitals)
    hypercapnic = normal.pop("hypercapnic", False)
    values = {k: np.array([v]) for k, v in normal.items()}
    components = scores.news2_components(**values, hypercapnic=hypercapnic)
    return {name: points[0] for name, points in components.items()}


@pytest.mark.parametrize(
    ("parameter", "value", "component", "points"),
    [
        ("respiratory_rate", 8, "respiratory_rate", 3),
        ("respiratory_rate", 9, "respiratory_rate", 1),
        ("respiratory_rate", 11, "respiratory_rate", 1),
        ("respiratory_rate", 12, "respiratory_rate", 0),
        ("respiratory_rate", 20, "respiratory_rate", 0),
        ("respiratory_rate", 21, "respiratory_rate", 2),
        ("respiratory_rate", 24, "respiratory_rate", 2),
        ("respiratory_rate", 25, "respiratory_rate", 3),
        ("spo2", 91, "spo2", 3),
        ("spo2", 92, "spo2", 2),
        ("spo2", 93, "spo2", 2),
        ("spo2", 94, "spo2", 1),
        ("spo2", 95, "spo2", 1),
        ("spo2", 96, "spo2", 0),
        ("on_oxygen", True, "oxygen", 2),
        ("systolic_bp", 90, "systolic_bp", 3),
        ("systolic_bp", 91, "systolic_bp", 2),
        ("systolic_bp", 100, "systolic_bp", 2),
        ("systolic_bp", 101, "systolic_bp", 1),
        ("systolic_bp", 110, "systolic_bp", 1),
        ("systolic_bp", 111, "systolic_bp", 0),
        ("systolic_bp", 219, "systolic_bp", 0),
        ("systolic_bp", 220, "systolic_bp", 3),
        ("heart_rate", 40, "heart_rate", 3),
        ("heart_rate", 41, "heart_rate", 1),
        ("heart_rate", 50, "heart_rate", 1),
        ("heart_rate", 51, "heart_rate", 0),
        ("heart_rate", 90, "heart_rate", 0),
        ("heart_rate", 91, "heart_rate", 1),
        ("heart_rate", 110, "heart_rate", 1),
        ("heart_rate", 111, "heart_rate", 2),
        ("heart_rate", 130, "heart_rate", 2),
        ("heart_rate", 131, "heart_rate", 3),
        ("consciousness", "C", "consciousness", 3),
        ("consciousness", "V", "consciousness", 3),
        ("consciousness", "U", "consciousness", 3),
        ("temperature_c", 35.0, "temperature", 3),
        ("temperature_c", 35.1, "temperature", 1),
        ("temperature_c", 36.0, "temperature", 1),
        ("temperature_c", 36.1, "temperature", 0),
        ("temperature_c", 38.0, "temperature", 0),
        ("temperature_c", 38.1, "temperature", 1),
        ("temperature_c", 39.0, "temperature", 1),
        ("temperature_c", 39.1, "temperature", 2),
    ],
)
def test_news2_band_boundaries(parameter, value, component, points):
    assert _news2(**{parameter: value})[component] == points


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "points"),
    [(83, False, 3), (84, False, 2), (85, True, 2), (86, False, 1), (87, True, 1), (88, False, 0),
     (92, True, 0), (93, False, 0), (99, False, 0), (93, True, 1), (94, True, 1), (95, True, 2),
     (96, True, 2), (97, True, 3)],
)  # fmt: skip
def test_news2_spo2_scale_2_for_hypercapnic_patients(spo2, on_oxygen, points):
    assert _news2(spo2=spo2, on_oxygen=on_oxygen, hypercapnic=True)["spo2"] == points


def test_news2_total_is_nan_when_a_parameter_is_missing():
    components = scores.news2_components(
        respiratory_rate=np.array([25.0, np.nan]), spo2=np.array([91.0, 97.0]),
        on_oxygen=np.array([True, False]), systolic_bp=np.array([90.0, 120.0]),
        heart_rate=np.array([131.0, 70.0]), consciousness=np.array(["V", "A"], dtype=object),
        temperature_c=np.array([35.0, 37.0]),
    )  # fmt: skip
    total = scores.news2_score(components)
    assert total[0] == 3 + 3 + 2 + 3 + 3 + 3 + 3
    assert np.isnan(total[1])


vital = st.fixed_dictionaries(
    {
        "respiratory_rate": st.integers(4, 70),
        "spo2": st.integers(50, 100),
        "on_oxygen": st.booleans(),
        "systolic_bp": st.integers(40, 300),
        "heart_rate": st.integers(20, 250),
        "consciousness": st.sampled_from(["A", "C", "V", "P", "U"]),
        "temperature_c": st.floats(30.0, 44.0).map(lambda t: round(t, 1)),
    }
)


@given(vital)
def test_news2_stays_within_0_to_20_and_worse_breathing_never_scores_less(observation):
    values = {k: np.array([v]) for k, v in observation.items()}
    total = scores.news2_score(scores.news2_components(**values))[0]
    assert 0 <= total <= 20
    faster = dict(values, respiratory_rate=values["respiratory_rate"] + 5)
    if observation["respiratory_rate"] >= 20:
        assert scores.news2_score(scores.news2_components(**faster))[0] >= total


def test_diagnosis_groups_cover_the_leading_principal_diagnoses():
    codes = pd.Series(["A41.9", "I50.23", "J44.1", "J18.9", "I21.A1", "E11.65", "I48.91", "I63.9",
                       "M17.11", "S72.001A", "C34.90", "K35.80", "R55"])  # fmt: skip
    assert scores.diagnosis_group(codes).tolist() == [
        "sepsis", "heart_failure", "copd_asthma", "pneumonia", "acute_mi", "diabetes",
        "arrhythmia", "stroke", "osteoarthritis", "hip_fracture", "cancer", "abdominal_surgical",
        "other",
    ]  # fmt: skip
