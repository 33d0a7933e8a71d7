"""The risk service over HTTP: the real server on the small world's champions, called as an
application would (parity with batch predictions, bad input, authentication, audit trail)."""

from __future__ import annotations

import datetime
import json
import math
import os
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import servers

import registry
from configs import load_settings, vocabulary
from features import build
from features import cases as case_types
from monitoring import drift
from serving import examples, schemas

API_KEY = "test-key-0123456789abcdef"
SMALL = load_settings("small")
AT_ADMISSION = [task for task in SMALL.task_names if SMALL.tasks[task].case == "admission"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory):
    settings, _ = trained
    folder = tmp_path_factory.mktemp("server")
    port = servers.free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.training.tracking_uri,
        "HOSPITAL_API_KEY": API_KEY,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bentoml",
            "serve",
            "serving.service:RiskService",
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "server.log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    servers.wait_until_up(f"{url}/readyz", process, folder / "server.log", seconds=120)
    yield url, folder
    process.terminate()
    process.wait(timeout=30)


def _post(url: str, path: str, body, key: str | None = API_KEY, content_type="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": content_type, **({"authorization": f"Bearer {key}"} if key else {})}
    request = urllib.request.Request(url + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _predictions(url: str, path: str, body: dict):
    """POST a prediction request: the status and, when it succeeded, the list of predictions."""
    status, answer = _post(url, path, body)
    return status, answer["predictions"] if status == 200 else answer


@pytest.fixture(scope="module")
def cases(small_clean, small_settings):
    admission = build.admission_cases(small_clean, small_settings.features)
    discharge = build.discharge_cases(small_clean, admission)
    alive = discharge["discharge_disposition"].isin(vocabulary.DISPOSITIONS)  # readmission's cases
    return admission, discharge[alive].reset_index(drop=True)


def _batch(trained, task: str, table: pd.DataFrame) -> np.ndarray:
    settings, _ = trained
    return registry.load_champion(settings, task).model.predict(None, table)


def test_ready_and_reports_the_loaded_versions(server, trained):
    url, _ = server
    status, info = _post(url, "/info", {})
    assert status == 200
    assert set(info) == set(trained[0].task_names)
    assert all(entry["version"] == "1" for entry in info.values())


def test_served_readmission_risk_equals_the_batch_prediction(
    server, trained, cases, small_features
):
    url, _ = server
    _, discharge = cases
    table = small_features["readmission"].query("split == 'test'").head(25)
    rows = discharge.set_index("encounter_key").loc[table["encounter_key"]].reset_index()
    status, served = _predictions(
        url, "/readmission", {"cases": [examples.discharge_request(r) for _, r in rows.iterrows()]}
    )
    assert status == 200, served
    assert [s["case_id"] for s in served] == table["encounter_key"].tolist()
    np.testing.assert_allclose(
        [s["prediction"] for s in served],
        _batch(trained, "readmission", table),
        rtol=1e-6,
        atol=1e-9,
    )
    assert [s["clinical_score"]["lace_score"] for s in served] == table["lace_score"].tolist()
    assert {s["risk_band"] for s in served} <= {"low", "medium", "high"}


@pytest.mark.parametrize("task", AT_ADMISSION)
def test_served_admission_predictions_equal_the_batch(server, trained, cases, small_features, task):
    url, _ = server
    admission, _ = cases
    table = small_features[task].query("split == 'test'").head(25)
    rows = admission.set_index("encounter_key").loc[table["encounter_key"]].reset_index()
    status, served = _predictions(
        url, f"/{task}", {"cases": [examples.admission_request(r) for _, r in rows.iterrows()]}
    )
    assert status == 200, served
    np.testing.assert_allclose(
        [s["prediction"] for s in served], _batch(trained, task, table), rtol=1e-6
    )


def test_served_deterioration_risk_equals_the_batch_prediction(
    server, trained, cases, small_clean, small_features
):
    url, _ = server
    admission, _ = cases
    table = small_features["deterioration"].query("split == 'test'")
    table = table.groupby("encounter_key").nth(3).head(10)  # the fourth observation of ten stays
    vitals, labs = small_clean["vitals"], small_clean["labs"]
    requests = []
    for _, point in table.iterrows():
        stay = admission[admission["encounter_key"] == point["encounter_key"]].iloc[0]
        case = {k: v for k, v in examples.stay(stay).items() if k in schemas.WardCase.model_fields}
        mine = vitals[
            (vitals["encounter_key"] == point["encounter_key"])
            & (vitals["observed_at"] <= point["prediction_time"])
        ]
        case["observations"] = [
            {
                "observed_at": examples.iso(o.observed_at),
                **{s: float(getattr(o, s)) for s in case_types.VITAL_SIGNS},
                "on_oxygen": bool(o.on_oxygen),
                "consciousness": o.consciousness,
            }
            for o in mine.itertuples()
        ]
        drawn = labs[
            (labs["encounter_key"] == point["encounter_key"])
            & (labs["drawn_at"] <= point["prediction_time"])
        ]
        case["labs"] = [
            {"drawn_at": examples.iso(lab.drawn_at), "test": lab.test, "value": float(lab.value)}
            for lab in drawn.itertuples()
        ]
        orders = small_clean["medications"]
        case["medications"] = examples.ward_medications(
            orders[orders["encounter_key"] == point["encounter_key"]], point["prediction_time"]
        )
        requests.append(case)
    status, served = _predictions(
        url, "/deterioration", {"cases": requests, "explain": True, "top_features": 4}
    )
    assert status == 200, served
    np.testing.assert_allclose(
        [s["prediction"] for s in served],
        _batch(trained, "deterioration", table),
        rtol=1e-6,
        atol=1e-9,
    )
    assert all(len(s["explanation"]) == 4 for s in served)
    assert all("news2_score" in s["clinical_score"] for s in served)


def test_requests_arriving_together_each_get_their_own_answer(server, cases):
    url, _ = server
    _, discharge = cases
    bodies = [
        {"cases": [examples.discharge_request(discharge.iloc[i]) for i in range(n, 2 * n + 1)]}
        for n in range(12)
    ]
    alone = [_predictions(url, "/readmission", body) for body in bodies]
    with ThreadPoolExecutor(max_workers=12) as pool:
        together = list(pool.map(lambda body: _post(url, "/readmission", body), bodies))
    assert all(status == 200 for status, _ in together)
    assert len({answer["request_id"] for _, answer in together}) == len(bodies)
    for body, (_, single), (_, answer) in zip(bodies, alone, together, strict=True):
        served = answer["predictions"]
        assert [s["case_id"] for s in served] == [c["case_id"] for c in body["cases"]]
        assert [s["prediction"] for s in served] == [s["prediction"] for s in single]


def test_times_with_an_offset_are_read_on_the_hospital_clock(server, cases):
    url, _ = server
    _, discharge = cases
    naive = examples.discharge_request(discharge.iloc[3])
    discharged = pd.Timestamp(naive["discharged_at"]).tz_localize("UTC")
    with_offset = dict(naive, discharged_at=discharged.tz_convert("America/Chicago").isoformat())
    status, served = _predictions(url, "/readmission", {"cases": [naive, with_offset]})
    assert status == 200, served
    assert served[0]["prediction"] == served[1]["prediction"]


def test_explanations_rank_features_by_their_contribution(server, cases):
    url, _ = server
    _, discharge = cases
    status, served = _predictions(
        url,
        "/readmission",
        {
            "cases": [examples.discharge_request(discharge.iloc[0])],
            "explain": True,
            "top_features": 6,
        },
    )
    assert status == 200, served
    sizes = [abs(e["contribution"]) for e in served[0]["explanation"]]
    assert len(sizes) == 6
    assert sizes == sorted(sizes, reverse=True)


def _broken(cases, edit) -> dict:
    _, discharge = cases
    case = examples.discharge_request(discharge.iloc[0])
    edit(case)
    return {"cases": [case]}


def _from_now(**delta) -> str:
    return (datetime.datetime.now(datetime.UTC) + datetime.timedelta(**delta)).isoformat()


def _shifted(time: str, **delta) -> str:
    return (datetime.datetime.fromisoformat(time) + datetime.timedelta(**delta)).isoformat()


@pytest.mark.parametrize(
    ("name", "make", "field"),
    [
        ("missing field", lambda c: _broken(c, lambda x: x.pop("sex")), "sex"),
        ("wrong type", lambda c: _broken(c, lambda x: x.update(age_years="old")), "age_years"),
        ("out of range", lambda c: _broken(c, lambda x: x.update(age_years=150)), "age_years"),
        (
            "lab out of range",
            lambda c: _broken(
                c,
                lambda x: x.update(
                    discharge_labs=[
                        {"drawn_at": x["discharged_at"], "test": "sodium", "value": 400}
                    ]
                ),
            ),
            "sodium",
        ),
        (
            "malformed code",
            lambda c: _broken(c, lambda x: x.update(primary_dx_code="I50-9")),
            "primary_dx_code",
        ),
        (
            "unknown field",
            lambda c: _broken(c, lambda x: x.update(patient_name="Jane")),
            "patient_name",
        ),
        (
            "discharge before admission",
            lambda c: _broken(c, lambda x: x.update(discharged_at=x["admitted_at"])),
            "discharged_at",
        ),
        (
            "admitted in year 1",
            lambda c: _broken(c, lambda x: x.update(admitted_at="0001-01-01T08:00:00")),
            "admitted_at",
        ),
        (
            "discharged in year 9999",
            lambda c: _broken(c, lambda x: x.update(discharged_at="9999-12-31T08:00:00")),
            "discharged_at",
        ),
        (
            "discharged tomorrow (with an offset)",
            lambda c: _broken(c, lambda x: x.update(discharged_at=_from_now(days=1))),
            "discharged_at",
        ),
        (
            "discharged two years after admission",
            lambda c: _broken(
                c, lambda x: x.update(discharged_at=_shifted(x["admitted_at"], days=730))
            ),
            "discharged_at",
        ),
        (
            "a drug not in the formulary",
            lambda c: _broken(c, lambda x: x.update(medications=[{"rxnorm_code": "99999999"}])),
            "not in the formulary",
        ),
        (
            "a list of 10,000 drugs",
            lambda c: _broken(
                c, lambda x: x.update(medications=[{"rxnorm_code": "11289"}] * 10_000)
            ),
            "medications",
        ),
        (
            "an unknown medication source",
            lambda c: _broken(
                c, lambda x: x.update(medications=[{"rxnorm_code": "11289", "source": "mail"}])
            ),
            "source",
        ),
        ("empty list", lambda c: {"cases": []}, "cases"),
        (
            "too many cases",
            lambda c: {"cases": _broken(c, lambda x: None)["cases"] * 1001},
            "cases",
        ),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_field(server, cases, name, make, field):
    url, _ = server
    status, body = _post(url, "/readmission", make(cases))
    assert 400 <= status < 500, (name, status)
    assert field in str(body), (name, body)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"cases": [', "application/json"),
        (b'{"cases": [{"age_years": NaN}]}', "application/json"),
        (b"cases=1", "text/plain"),
    ],
)
def test_malformed_requests_get_a_4xx_and_the_server_keeps_answering(
    server, cases, body, content_type
):
    url, _ = server
    status, _ = _post(url, "/readmission", body, content_type=content_type)
    assert 400 <= status < 500
    _, discharge = cases
    assert (
        _post(url, "/readmission", {"cases": [examples.discharge_request(discharge.iloc[1])]})[0]
        == 200
    )


def _ward_case(stay: pd.Series) -> dict:
    """A ward case with one observation, the first of a row of ``admission_cases``."""
    stay_fields = examples.stay(stay).items()
    case = {k: v for k, v in stay_fields if k in schemas.WardCase.model_fields}
    case["observations"] = [examples.admission_request(stay)["first_observation"]]
    case["medications"] = []  # a ward case's orders carry their times
    return case


def test_a_ward_observation_far_from_the_admission_is_refused_naming_it(server, cases):
    url, _ = server
    admission, _ = cases
    case = _ward_case(admission[admission["admit_heart_rate"].notna()].iloc[5])
    assert _post(url, "/deterioration", {"cases": [case]})[0] == 200
    case["observations"].append(
        {**case["observations"][0], "observed_at": _shifted(case["admitted_at"], days=400)}
    )
    status, body = _post(url, "/deterioration", {"cases": [case]})
    assert status == 400
    assert "observations[1].observed_at" in body


def test_a_body_over_the_limit_gets_413_with_or_without_its_length(server, trained):
    url, _ = server
    limit = trained[0].serving.traffic.max_body_bytes
    padding = json.dumps({"cases": [{"case_id": "x" * 1000}] * (limit // 1000 + 10)}).encode()
    assert _post(url, "/readmission", padding)[0] == 413
    chunks = (padding[i : i + 65536] for i in range(0, len(padding), 65536))
    request = urllib.request.Request(
        url + "/readmission",
        data=chunks,  # an iterable: sent in chunks, without a Content-Length
        headers={"content-type": "application/json", "authorization": f"Bearer {API_KEY}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 413


def test_every_path_needs_the_api_key_but_health_schema_and_docs(server, cases):
    url, _ = server
    _, discharge = cases
    body = {"cases": [examples.discharge_request(discharge.iloc[2])]}
    assert _post(url, "/readmission", body, key=None)[0] == 401
    assert _post(url, "/readmission", body, key="wrong")[0] == 401
    assert _post(url, "/readmission", body)[0] == 200
    for path in ("/readyz", "/livez", "/schema.json", "/docs.json"):
        assert urllib.request.urlopen(url + path, timeout=10).status == 200, path
    for path in ("/metrics", "/info", "/an-endpoint-added-later"):  # denied by default
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + path, timeout=10)
        assert refused.value.code == 401, path


def test_every_prediction_leaves_one_audit_line_without_identifiers(server, cases, small_world):
    url, folder = server
    log = folder / "reports" / "audit" / "predictions.jsonl"
    before = log.read_text().count("\n") if log.exists() else 0
    _, discharge = cases
    body = {"cases": [examples.discharge_request(discharge.iloc[i]) for i in range(3)]}
    status, answer = _post(url, "/readmission", body)
    assert status == 200
    lines = log.read_text().splitlines()
    assert len(lines) == before + 3
    assert {json.loads(line)["request_id"] for line in lines[-3:]} == {answer["request_id"]}
    record = json.loads(lines[-1])
    assert {
        "time",
        "request_id",
        "endpoint",
        "model_version",
        "latency_ms",
        "prediction",
        "lace_score",
    } <= set(record)
    assert set(case_types.feature_columns("discharge", [])) <= set(record)
    assert "case_id" not in record
    text = log.read_text()
    patients = small_world["patients"]
    for value in [*patients["ssn"], *patients["mrn"], *(case["case_id"] for case in body["cases"])]:
        assert value not in text
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in record.values())


def test_the_audit_log_serves_as_current_data_for_monitoring(
    server, trained, cases, small_world_dir
):
    url, folder = server
    settings, _ = trained
    _, discharge = cases
    body = {"cases": [examples.discharge_request(discharge.iloc[i]) for i in range(40, 80)]}
    assert _post(url, "/readmission", body)[0] == 200
    log = str(folder / settings.serving.audit_log)
    audited = settings.model_copy(
        update={"serving": settings.serving.model_copy(update={"audit_log": log})}
    )
    current = drift.audit_frame(audited, "readmission")
    assert len(current) >= 40
    champion = registry.load_champion(settings, "readmission")
    model = champion.model
    snapshots, summary = drift.compare(
        "readmission",
        settings.tasks["readmission"],
        model,
        champion.label,
        drift.reference_frame(settings, "readmission", small_world_dir),
        current,
        settings.monitoring.drift,
    )
    assert set(snapshots) == {"drift"}  # no labels in the log yet: drift only
    assert summary.current_rows == len(current)
    assert summary.current_value is None
    np.testing.assert_allclose(
        model.predict(None, current[model.features]), current["prediction"], rtol=1e-6
    )


def _order(name: str, dose: float | None = None) -> dict:
    drug = SETTINGS_FORMULARY[name]
    return {"rxnorm_code": drug.rxcui, "dose": dose if dose is not None else drug.doses[0]}


SETTINGS_FORMULARY = load_settings("small").data_gen.medications.formulary
TWENTY_DRUGS = [
    "warfarin", "metformin", "lisinopril", "furosemide", "metoprolol", "atorvastatin",
    "levothyroxine", "pantoprazole", "acetaminophen", "sertraline", "albuterol", "tiotropium",
    "fluticasone", "gabapentin", "amlodipine", "donepezil", "insulin_glargine", "prednisone",
    "ceftriaxone",
]  # fmt: skip


def test_a_new_order_is_checked_against_the_active_list_severest_first(server):
    url, folder = server
    body = {"active": [_order(d) for d in TWENTY_DRUGS], "new": _order("ibuprofen")}
    status, answer = _post(url, "/medications/check", body)
    assert status == 200, answer
    assert not answer["interruptive"]
    pairs = [(a["active_drug"], a["severity"], a["tier"], a["effect"]) for a in answer["alerts"]]
    assert pairs[0] == ("warfarin", "major", "passive", "bleeding")
    assert ("lisinopril", "moderate", "informational", "acute_kidney_injury") in pairs
    assert ("sertraline", "moderate", "informational", "bleeding") in pairs
    assert answer["alerts"][0]["active_rxnorm_code"] == SETTINGS_FORMULARY["warfarin"].rxcui
    status, answer = _post(
        url, "/medications/check", {"active": [_order("sertraline")], "new": _order("phenelzine")}
    )
    assert status == 200
    assert answer["interruptive"]
    assert answer["alerts"][0]["effect"] == "serotonin_syndrome"
    lines = (folder / "reports" / "audit" / "predictions.jsonl").read_text().splitlines()
    logged = [json.loads(line) for line in lines if '"medications/check"' in line]
    assert logged[-1]["alerts"] == [
        [SETTINGS_FORMULARY["sertraline"].rxcui, "contraindicated", "interruptive"]
    ]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda b: b["new"].update(rxnorm_code="99999999"), "'99999999' is not in the formulary"),
        (lambda b: b["new"].update(rxnorm_code="RX5640"), "rxnorm_code"),
        (lambda b: b["new"].update(dose=-5), "dose"),
        (lambda b: b["new"].update(dose=8000), "exceeds its largest single dose, 800 mg"),
        (lambda b: b["active"].append(_order("warfarin")), "11289 listed more than once"),
        (lambda b: b["active"].append(_order("ibuprofen")), "'5640' is already active"),
        (lambda b: b["active"].extend([_order("aspirin")] * 10_000), "active"),
        (lambda b: b.pop("new"), "new"),
        (lambda b: b["new"].update(frequency="daily"), "frequency"),
    ],
)
def test_a_bad_medication_check_gets_a_4xx_naming_the_problem(server, change, named):
    url, _ = server
    body = {"active": [_order(d) for d in TWENTY_DRUGS[:5]], "new": _order("ibuprofen")}
    change(body)
    status, answer = _post(url, "/medications/check", body)
    assert 400 <= status < 500, (status, answer)
    assert named in answer
    assert _post(url, "/medications/check", {"active": [], "new": _order("aspirin")})[0] == 200
    assert (
        _post(url, "/medications/check", {"active": [], "new": _order("aspirin")}, key=None)[0]
        == 401
    )
