"""A task is declared once: a new YAML file in a copy of configs/ is built, trained, served and
shown on the model-health page with no change to the code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import servers
from streamlit.testing.v1 import AppTest

import registry
from configs import CONFIG_DIR, CONFIG_DIR_ENV, ConfigError, load_settings
from features.build import admission_cases, run_build
from serving import examples
from training import pipeline

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "throwaway-key-0123456789"
# Readmission predicted at admission instead of discharge: another case type, label and route.
THROWAWAY = """\
# 30-day readmission predicted at admission (a throwaway task for a test).
title: Readmission, seen at admission  # what the pages call it
question: Risk of readmission within 30 days of discharge, at admission.  # its description
intended_use: A test of the task declaration.  # the model card's first section
case: admission             # what is known in the first hours
table: readmission_at_admission  # data/features/<table>.parquet
kind: binary                # a probability
target: readmitted_30d      # label column
metric: auroc               # optimised on the validation split
families: [linear]          # the quickest family
trials: 1                   # one trial
timeout_seconds: 60         # at most a minute
max_rounds: 50              # unused by the linear family
early_stopping_rounds: 10   # unused by the linear family
baselines: [admit_news2_score]  # a score known at admission
oracle: oracle_p_readmit_30d  # the generator's risk at discharge, as the ceiling
risk_bands: [0.10, 0.20]    # low, medium, high
decision_thresholds: [0.05, 0.25]  # the decision curve's range
champion_margin: 0.0        # any model is champion
search:                     # the linear family's strength
  linear:                   # logistic regression
    strength: {type: float, low: 0.01, high: 10, log: true}  # inverse regularisation (C)
"""


@pytest.fixture(scope="module")
def declared(tmp_path_factory, trained, small_world_dir, key_root):
    """A copy of configs/ with one more task, its features built on a copy of the small world
    and its model trained into a copy of the trained registry (beside the five champions)."""
    settings, _ = trained
    root = tmp_path_factory.mktemp("declared")
    configs = root / "configs"
    shutil.copytree(CONFIG_DIR, configs, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (configs / "tasks" / "readmission_at_admission.yaml").write_text(THROWAWAY)
    data_dir = root / "data"
    for folder in ("clean", "oracle"):
        shutil.copytree(small_world_dir / folder, data_dir / folder)
    shutil.copy(registry.tracking_uri(settings).removeprefix("sqlite:///"), root / "mlflow.db")
    store = [
        f"training.tracking_uri=sqlite:///{root / 'mlflow.db'}",
        f"training.artifact_location={root / 'artifacts'}",
        f"training.optuna_storage=sqlite:///{root / 'optuna.db'}",
    ]
    new = load_settings("small", store, config_dir=configs)
    run_build(new, data_dir, key_root)
    pipeline.train_task(new, "readmission_at_admission", data_dir, progress=lambda _: None)
    return configs, store, new, data_dir


@pytest.mark.slow
def test_a_declared_task_gets_a_table_and_a_registered_champion(declared):
    _, _, settings, data_dir = declared
    assert "readmission_at_admission" in settings.task_names
    assert (data_dir / "features" / "readmission_at_admission.parquet").exists()
    champion = registry.load_champion(settings, "readmission_at_admission")
    assert "admit_news2_score" in champion.model.features  # what is known at admission
    assert "lace_score" not in champion.model.features  # what is known at discharge only


@pytest.mark.slow
def test_the_server_serves_a_declared_task_without_code_changes(declared, small_clean):
    configs, _, settings, _ = declared
    folder = configs.parent / "server"  # not beside configs/, which would shadow the package
    folder.mkdir(exist_ok=True)
    port = servers.free_port()
    env = {
        **os.environ,
        CONFIG_DIR_ENV: str(configs),
        registry.TRACKING_URI_ENV: registry.tracking_uri(settings),
        settings.serving.api_key_env: API_KEY,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bentoml", "serve", "serving.service:RiskService",
         "--host", "127.0.0.1", "-p", str(port)],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=(folder / "server.log").open("w"),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        servers.wait_until_up(f"{url}/readyz", process, folder / "server.log", seconds=180)
        stays = admission_cases(small_clean, settings.features)
        stay = stays[stays["admit_heart_rate"].notna()].iloc[3]
        request = urllib.request.Request(
            f"{url}/readmission_at_admission",
            data=json.dumps({"cases": [examples.admission_request(stay)]}).encode(),
            headers={"content-type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:  # protected like every endpoint
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 401
        request.add_header("authorization", f"Bearer {API_KEY}")
        with urllib.request.urlopen(request, timeout=30) as answer:
            prediction = json.loads(answer.read())["predictions"][0]
        assert 0 <= prediction["prediction"] <= 1
        assert prediction["model"] == registry.model_name(settings, "readmission_at_admission")
        assert "admit_news2_score" in prediction["clinical_score"]
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_the_model_health_page_shows_a_declared_task(declared, monkeypatch):
    configs, store, settings, data_dir = declared
    monkeypatch.setenv(CONFIG_DIR_ENV, str(configs))
    arguments = ["--profile", "small", "--data-dir", str(data_dir), *store]
    monkeypatch.setattr(sys, "argv", [str(ROOT / "dashboard" / "app.py"), *arguments])
    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=180)
    app.run()
    app.switch_page("views/model_health.py").run()
    champions = app.dataframe[0].value
    assert "Readmission, seen at admission" in set(champions["task"])
    assert len(champions) == len(settings.task_names)


def test_a_task_declaration_with_a_mistake_names_the_file_and_key(tmp_path):
    configs = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, configs, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    broken = THROWAWAY.replace("case: admission ", "case: bedside   ")
    (configs / "tasks" / "readmission_at_admission.yaml").write_text(broken)
    with pytest.raises(ConfigError) as error:
        load_settings("small", config_dir=configs)
    message = str(error.value)
    assert "readmission_at_admission.yaml" in message
    assert "tasks.readmission_at_admission.case" in message
