"""Training: metric arithmetic, calibration choice, resumable and shared studies, the champion rule,
and the whole chain on the small world down to a registered, loadable, well-behaved champion."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pytest
from mlflow import MlflowClient

import registry
from configs import load_settings
from training import evaluate, models, pipeline, tune
from training.data import load_task_data

# ---------------------------------------------------------------------------------------------
# Metric arithmetic against hand-computed values


def test_expected_calibration_error_by_hand():
    y = np.array([0, 1, 0, 1])
    p = np.array([0.1, 0.9, 0.2, 0.6])  # one prediction per bin: gaps 0.1, 0.1, 0.2, 0.4
    assert evaluate.expected_calibration_error(y, p, bins=10) == pytest.approx(0.2)


def test_a_calibrated_model_has_slope_one_and_intercept_zero():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.02, 0.6, 200_000)
    y = (rng.random(p.size) < p).astype(int)
    slope, intercept = evaluate.calibration_slope_intercept(y, p)
    assert slope == pytest.approx(1.0, abs=0.03)
    assert intercept == pytest.approx(0.0, abs=0.02)
    overconfident = 1 / (1 + np.exp(-2 * np.log(p / (1 - p))))
    assert evaluate.calibration_slope_intercept(y, overconfident)[0] == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize(
    ("metric", "model", "oracle", "expected"),
    [
        ("auroc", 0.7, 0.8, 2 / 3),
        ("auroc", 0.8, 0.8, 1.0),
        ("r2", 0.3, 0.6, 0.5),
        ("rmse", 3.0, 2.0, None),
    ],
)
def test_share_of_the_ceiling(metric, model, oracle, expected):
    result = evaluate.ceiling_fraction(metric, model, oracle)
    assert result == (pytest.approx(expected) if expected is not None else None)


def test_metric_values_by_hand():
    assert evaluate.metric_value(
        "rmse", np.array([1.0, 2.0]), np.array([1.0, 4.0])
    ) == pytest.approx(np.sqrt(2))
    assert evaluate.metric_value(
        "mae", np.array([1.0, 2.0]), np.array([2.0, 4.0])
    ) == pytest.approx(1.5)
    assert evaluate.metric_value(
        "auroc", np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    ) == pytest.approx(0.75)


def test_los_buckets_follow_mimic3_benchmarks():
    days = np.array([0.5, 1.0, 7.9, 8.0, 13.0, 15.0])
    assert evaluate.los_buckets(days).tolist() == [0, 1, 7, 8, 8, 9]


def test_operating_point_matches_the_number_of_alerts():
    y = np.array([1, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    baseline = np.array([12, 11, 3, 2, 1, 0, 10, 4, 5, 6])  # alerts at >= 10: rows 0, 1, 6
    model = np.array([0.9, 0.1, 0.8, 0.2, 0.1, 0.0, 0.7, 0.3, 0.2, 0.1])  # top 3: rows 0, 2, 6
    points = evaluate.operating_points(y, model, baseline, 10)
    assert points["baseline_alerts_per_100"] == pytest.approx(30)
    assert points["baseline_sensitivity"] == pytest.approx(2 / 3)
    assert points["baseline_ppv"] == pytest.approx(2 / 3)
    assert points["model_alerts_per_100"] == pytest.approx(30)
    assert points["model_sensitivity"] == pytest.approx(1.0)
    assert points["model_ppv"] == pytest.approx(1.0)


def test_bootstrap_interval_surrounds_the_estimate():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    p = np.clip(y * 0.3 + rng.random(2000) * 0.7, 0, 1)
    result = evaluate.bootstrap(
        lambda a, b: {"auroc": evaluate.metric_value("auroc", a, b)}, y, p, 100, 0
    )
    value, low, high = result["auroc"]
    assert low < value < high
    assert high - low < 0.06


def test_net_benefit_by_hand():
    # Ten patients, three events; at threshold 0.2 the model flags rows 0, 1, 2 and 6.
    y = np.array([1, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    risk = np.array([0.9, 0.25, 0.2, 0.1, 0.1, 0.0, 0.7, 0.15, 0.05, 0.1])
    thresholds = np.array([0.2, 0.5])
    # 0.2: 3 true and 1 false positive, odds 1/4; 0.5: 2 true positives, none false.
    assert evaluate.net_benefit(y, risk, thresholds) == pytest.approx([0.3 - 0.1 / 4, 0.2])
    assert evaluate.treat_all_net_benefit(y, thresholds) == pytest.approx([0.3 - 0.7 / 4, -0.4])


def test_the_true_risk_has_the_best_net_benefit_and_noise_costs_some():
    rng = np.random.default_rng(3)
    truth = rng.beta(1, 6, 50_000)
    y = (rng.random(truth.size) < truth).astype(int)
    noisy = np.clip(truth + rng.normal(0, 0.08, truth.size), 0, 1)
    thresholds = evaluate.decision_thresholds(0.05, 0.40)
    curve, gains = evaluate.decision_curve(
        y, truth, {"noisy": noisy}, thresholds, resamples=50, seed=0, oracle=truth
    )
    assert (curve["oracle"] == curve["model"]).all()
    assert len(curve) == 36
    assert curve["threshold"].iloc[-1] == pytest.approx(0.40)
    assert (curve["model"] >= curve[["treat_all", "treat_none"]].max(axis=1) - 1e-3).all()
    gain, low, high = gains["noisy"]
    assert 0 < low < gain < high
    assert (curve["gain_over_noisy_low"] <= curve["gain_over_noisy"]).all()


def test_a_score_becomes_the_risk_its_points_carry():
    rng = np.random.default_rng(4)
    points = rng.integers(0, 20, 40_000)
    risk = 1 / (1 + np.exp(-(-4 + 0.2 * points)))
    y = (rng.random(points.size) < risk).astype(int)
    fitted = evaluate.score_as_risk(points[:20_000], y[:20_000], np.array([0, 10, 19]))
    assert fitted == pytest.approx(1 / (1 + np.exp(-(-4 + 0.2 * np.array([0, 10, 19])))), abs=0.02)


def test_smoothed_calibration_errors_find_a_known_miscalibration():
    rng = np.random.default_rng(5)
    p = rng.beta(1, 8, 100_000)
    y = (rng.random(p.size) < p).astype(int)
    calibrated = evaluate.smoothed_calibration_errors(y, p)
    assert calibrated["ici"] < 0.005
    assert calibrated["e90"] < 0.01
    overstated = evaluate.smoothed_calibration_errors(y, np.clip(1.5 * p, 0, 1))
    assert overstated["ici"] == pytest.approx(0.5 * p.mean(), rel=0.1)  # |1.5p - p| on average
    assert overstated["e90"] == pytest.approx(0.5 * np.quantile(p, 0.9), rel=0.15)


def test_calibration_is_chosen_to_fix_a_miscalibrated_model():
    rng = np.random.default_rng(2)
    truth = rng.uniform(0.01, 0.3, 20_000)
    y = (rng.random(truth.size) < truth).astype(int)
    inflated = np.clip(truth * 2.2, 0, 0.99)
    method, brier = models.choose_calibration("auto", inflated, y, seed=0)
    assert method in ("platt", "isotonic")
    assert brier[method] < brier["none"]
    mapping = models.fit_calibration(method, inflated, y)
    from training.pyfunc_model import calibrate

    assert calibrate(inflated, mapping).mean() == pytest.approx(y.mean(), abs=0.01)


def test_calibration_with_too_few_events_to_cross_validate_stays_uncalibrated():
    rng = np.random.default_rng(3)
    scores = rng.uniform(0, 0.1, 500)
    one_event = np.zeros(500, dtype=np.int8)
    one_event[7] = 1  # a small world's validation split with a single death
    assert models.choose_calibration("auto", scores, one_event, seed=0) == ("none", {})
    three_events = one_event.copy()
    three_events[[70, 300]] = 1  # enough for three folds
    method, brier = models.choose_calibration("auto", scores, three_events, seed=0)
    assert set(brier) == {"none", "platt", "isotonic"}
    assert method == min(brier, key=brier.get)


# ---------------------------------------------------------------------------------------------
# Studies: resume and sharing


def _toy_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3000, 4)).astype(np.float32)
    y = (rng.random(3000) < 1 / (1 + np.exp(-(x[:, 0] - x[:, 1])))).astype(int)
    return tune.Split(x[:2000], y[:2000]), tune.Split(x[2000:], y[2000:]), ["a", "b", "c", "d"]


def _task_config(trials: int, family: str = "xgboost", max_rounds: int = 2000):
    config = load_settings("small").tasks["readmission"]
    return config.model_copy(
        update={"trials": trials, "families": [family], "monotone": {}, "timeout_seconds": 120,
                "max_rounds": max_rounds}
    )  # fmt: skip


def test_an_interrupted_study_resumes_instead_of_starting_over(tmp_path, monkeypatch):
    train, validation, features = _toy_problem()
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    real_fit, calls = models.fit, {"n": 0}

    def interrupted_fit(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    config = _task_config(5, "linear")
    study_args = ("toy", "linear", config, features, train, validation, storage, "f" * 16, 0)
    monkeypatch.setattr(models, "fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        tune.run_study(*study_args)
    monkeypatch.setattr(models, "fit", real_fit)
    study = tune.run_study(*study_args)
    finished = study.get_trials(states=tune.FINISHED)
    assert len(finished) == 5
    assert (
        len([t for t in study.trials if t.number >= 2 and t.state in tune.FINISHED]) == 3
    )  # only the rest ran


POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


def _postgres_available() -> bool:
    import sqlalchemy

    try:
        with sqlalchemy.create_engine(POSTGRES_URL).connect():
            return True
    except Exception:
        return False


def _worker(study: str, trials: int) -> None:
    train, validation, features = _toy_problem()
    tune.run_study(
        study,
        "xgboost",
        _task_config(trials, max_rounds=20),  # quick trials: the sharing is what is tested
        features,
        train,
        validation,
        POSTGRES_URL,
        "p" * 16,
        os.getpid(),
    )


@pytest.mark.skipif(
    not _postgres_available() and not os.environ.get("CI"),
    reason="PostgreSQL is not reachable at 127.0.0.1:5432 (CI provides it)",
)
def test_two_workers_share_one_postgresql_study():
    name = f"shared-{os.getpid()}-{np.random.default_rng().integers(1 << 30)}"
    # Spawned, not forked: a fork of a process running threads (other tests' servers and
    # caches) can inherit a held lock and hang.
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_worker, args=(name, 30)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
        assert worker.exitcode == 0
    study = optuna.load_study(
        study_name=tune.study_name(name, "xgboost", "p" * 16), storage=POSTGRES_URL
    )
    finished = study.get_trials(states=tune.FINISHED)
    assert 30 <= len(finished) <= 32  # the shared budget, give or take trials already running
    assert len({t.user_attrs["worker"] for t in finished}) == 2


# ---------------------------------------------------------------------------------------------
# The whole chain on the small world


def _champion(settings, task):
    return mlflow.pyfunc.load_model(registry.champion_uri(settings, task))


@pytest.mark.slow
def test_the_chain_ends_in_a_registered_champion_per_task(trained, small_features):
    settings, results = trained
    for task, result in results.items():
        assert result.champion_moved
        served = _champion(settings, task)
        test = small_features[task][small_features[task]["split"] == "test"]
        prediction = served.predict(test[served.unwrap_python_model().features])
        assert len(prediction) == len(test)
        assert np.isfinite(prediction).all()
        if settings.tasks[task].kind == "binary":
            assert ((prediction >= 0) & (prediction <= 1)).all()


@pytest.mark.slow
def test_models_beat_no_skill_and_report_baseline_and_ceiling(trained):
    _, results = trained
    readmission = results["readmission"]
    assert readmission.test[0] > 0.55  # about 200 test stays: a wide interval around 0.7
    assert set(readmission.baselines) == {"lace_score", "hospital_score"}
    assert readmission.oracle > 0.6
    assert readmission.calibration["ece"] < 0.1
    assert results["los"].test[0] < results["los"].baselines["baseline_los_days"] * 1.05  # RMSE


@pytest.mark.slow
def test_the_run_logs_config_dictionary_model_card_and_figures(trained):
    _settings, results = trained
    client = MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(results["readmission"].run_id)}
    assert {
        "config",
        "data",
        "environment",
        "figures",
        "evaluation",
        "explanations",
        "model_card.md",
    } <= artifacts
    figures = {
        Path(a.path).name for a in client.list_artifacts(results["readmission"].run_id, "figures")
    }
    assert {"reliability.png", "shap_beeswarm.png", "decision_curve.png"} <= figures
    card = mlflow.artifacts.load_text(f"runs:/{results['readmission'].run_id}/model_card.md")
    for section in ("Intended use", "Test metrics", "Subgroups", "Top features", "Limitations"):
        assert section in card
    nested = client.search_runs(
        [client.get_run(results["readmission"].run_id).info.experiment_id],
        f"tags.mlflow.parentRunId = '{results['readmission'].run_id}'",
    )
    assert len(nested) >= 3  # the trials, as nested runs


@pytest.mark.slow
def test_each_binary_run_logs_its_decision_curve_and_intervals_on_the_ceiling(trained):
    settings, results = trained
    for task in ("readmission", "deterioration", "mortality"):
        config = settings.tasks[task]
        run = MlflowClient().get_run(results[task].run_id)
        metrics = run.data.metrics
        share = registry.ceiling_fraction("auroc")
        assert metrics[f"{share}_low"] <= metrics[share] <= metrics[f"{share}_high"]
        curve = registry.logged_table(run.info.run_id, "evaluation/decision_curve.json")
        low, high = config.decision_thresholds
        assert curve["threshold"].min() == pytest.approx(low)
        assert curve["threshold"].max() == pytest.approx(high)
        assert (curve["treat_none"] == 0).all()
        assert "oracle" in curve
        for baseline in config.baselines:
            gain = registry.net_benefit_gain(baseline)
            assert metrics[f"{gain}_low"] <= metrics[gain] <= metrics[f"{gain}_high"]
            assert metrics[gain] == pytest.approx(
                (curve["model"] - curve[baseline]).mean(), abs=1e-9
            )
        best = curve["model"] >= curve[[*config.baselines, "treat_all", "treat_none"]].max(axis=1)
        assert metrics[registry.decision_best_share()] == pytest.approx(best.mean())


@pytest.mark.slow
def test_the_champion_alias_moves_only_for_a_better_model(trained):
    settings, results = trained
    config = settings.tasks["readmission"]
    name = registry.model_name(settings, "readmission")
    client = MlflowClient()
    champion = client.get_model_version_by_alias(name, "champion")
    current = float(champion.tags["validation_auroc"])
    result = results["readmission"]
    with mlflow.start_run(run_name="champion-rule"):
        version = client.create_model_version(name, champion.source, run_id=champion.run_id).version
        moved, decision = pipeline._champion_rule(
            settings, "readmission", config, version, current + config.champion_margin / 2, result
        )
        assert not moved
        assert "stays champion" in decision
        assert client.get_model_version_by_alias(name, "champion").version == champion.version
        version = client.create_model_version(name, champion.source, run_id=champion.run_id).version
        moved, decision = pipeline._champion_rule(
            settings, "readmission", config, version, current + 2 * config.champion_margin, result
        )
        assert moved
        assert "replaces" in decision
        assert client.get_model_version_by_alias(name, "champion").version == version


@pytest.mark.slow
def test_more_prior_admissions_never_lower_readmission_risk(trained, small_features):
    settings, _ = trained
    model = _champion(settings, "readmission").unwrap_python_model()
    cases = small_features["readmission"].query("split == 'test'").head(300)
    busier = cases.assign(
        prior_admissions_12m=cases["prior_admissions_12m"] + 2,
        ed_visits_6m=cases["ed_visits_6m"] + 2,
    )
    assert (model.predict(None, busier) >= model.predict(None, cases) - 1e-9).all()


@pytest.mark.slow
def test_a_worse_early_warning_score_never_lowers_deterioration_risk(trained, small_features):
    settings, _ = trained
    model = _champion(settings, "deterioration").unwrap_python_model()
    cases = small_features["deterioration"].query("split == 'test'").head(500)
    worse = cases.assign(news2_score=cases["news2_score"] + 3, on_oxygen=1, not_alert=1)
    assert (model.predict(None, worse) >= model.predict(None, cases) - 1e-9).all()


@pytest.mark.slow
def test_the_same_config_and_seed_give_the_same_validation_score(
    small_features, small_world_dir, tmp_path
):
    # A small budget: the same seed must give the same result whatever the budget.
    config = load_settings("small").tasks["los"].model_copy(update={"trials": 2, "max_rounds": 200})
    settings = load_settings("small")
    data, fingerprint = load_task_data(
        small_world_dir, config, settings.training.scale, settings.training.seed
    )
    train, validation = data.split("train"), data.split("validation")
    splits = [
        tune.Split(data.matrix(frame), frame[config.target].to_numpy())
        for frame in (train, validation)
    ]
    scores = [
        tune.run_study(
            "los", "xgboost", config, data.features, *splits, f"sqlite:///{tmp_path / f'{n}.db'}",
            fingerprint, seed=7, log_trials=False,
        ).best_value
        for n in range(2)
    ]  # fmt: skip
    assert scores[0] == scores[1]


# ---------------------------------------------------------------------------------------------
# A table too large to hold whole


AT_SCALE = [
    "training.scale.in_memory_rows=10000",  # the small world's ward table (31k rows) is "large"
    "training.scale.validation_rows=2000",
    "training.scale.test_rows=3000",
    "training.scale.linear_rows=4000",
]


def test_a_table_read_part_by_part_gives_the_rows_held_in_memory(small_features, small_world_dir):
    settings = load_settings("small", AT_SCALE)
    config, t = settings.tasks["deterioration"], settings.training
    streamed, _ = load_task_data(small_world_dir, config, t.scale, t.seed)
    whole, _ = load_task_data(small_world_dir, config, load_settings("small").training.scale, 0)
    assert streamed.at_scale
    assert not whole.at_scale
    for splits in (["train"], ["train", "validation"]):
        x, y = streamed.rows_of(splits)
        x_whole, y_whole = whole.rows_of(splits)
        np.testing.assert_array_equal(x, x_whole)
        np.testing.assert_array_equal(y, y_whole)


def test_samples_at_scale_are_seeded_and_of_the_configured_size(small_features, small_world_dir):
    settings = load_settings("small", AT_SCALE)
    config, t = settings.tasks["deterioration"], settings.training
    samples = [load_task_data(small_world_dir, config, t.scale, t.seed)[0] for _ in range(2)]
    test = [data.split("test") for data in samples]
    assert test[0].equals(test[1])
    assert set(test[0]["split"]) == {"test"}
    assert abs(len(test[0]) - 3000) < 300
    x, _ = samples[0].rows_of(["train", "validation"], limit=4000)
    assert abs(len(x) - 4000) < 400


@pytest.mark.slow
def test_a_task_trained_at_scale_fits_every_row_and_evaluates_on_a_sample(
    small_features, small_world_dir, tmp_path
):
    settings = load_settings(
        "small",
        [
            *AT_SCALE,
            f"training.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
            f"training.artifact_location={tmp_path / 'artifacts'}",
            f"training.optuna_storage=sqlite:///{tmp_path / 'optuna.db'}",
        ],
    )
    result = pipeline.train_task(
        settings, "deterioration", small_world_dir, progress=lambda _: None
    )
    run = mlflow.get_run(result.run_id)
    assert run.data.params["trained_at_scale"] == "True"
    assert abs(int(run.data.params["evaluated_test_rows"]) - 3000) < 300
    assert int(run.data.params["train_rows"]) > 15_000
    auroc, low, high = result.test
    assert 0.7 < auroc < 0.95
    assert low < auroc < high
