"""Transport across sites: leave one facility out. For each facility, the champion's configuration
(its family and tuned parameters) is refitted and recalibrated as training does, on the
development rows of every other facility, and judged on the held-out facility's rows of the
prospective period, beside the champion itself on the same rows: discrimination, and calibration
per facility (observed against predicted, slope, ICI).

A facility whose rows the refit never saw is the closest this world comes to a new hospital; the
gap to the champion is what local data bought.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import registry
from configs import Settings
from decisions import RISK, DecisionError
from training import evaluate, models
from training.data import load_task_data

FACILITY = "facility_id"


def facility_of(rows: pd.DataFrame, clean_dir: Path) -> pd.Series:
    """Each row's facility: its own column, or its stay's in the clean encounters."""
    if FACILITY in rows:
        return rows[FACILITY]
    stays = pd.read_parquet(clean_dir / "encounters.parquet", columns=["encounter_key", FACILITY])
    return rows["encounter_key"].map(stays.set_index("encounter_key")[FACILITY])


def champion_configuration(settings: Settings, task: str) -> tuple[str, dict[str, Any]]:
    """The champion's family and tuned parameters, as its run logged them."""
    run = registry.connect(settings).get_run(registry.champion_version(settings, task).run_id)
    params = run.data.params
    return params["family"], {
        name.removeprefix("param_"): _typed(value)
        for name, value in params.items()
        if name.startswith("param_")
    }


def _typed(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def _measures(kind: str, y: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    measured = {"observed": float(np.mean(y)), "predicted": float(np.mean(prediction))}
    if kind == "binary":
        if len(np.unique(y)) < 2:
            return measured | {"auroc": np.nan, "calibration_slope": np.nan, "ici": np.nan}
        slope, _ = evaluate.calibration_slope_intercept(y, prediction)
        return measured | {
            "auroc": evaluate.metric_value("auroc", y, prediction),
            "calibration_slope": slope,
            "ici": evaluate.smoothed_calibration_errors(y, prediction)["ici"],
        }
    return measured | {"r2": evaluate.metric_value("r2", y, prediction)}


def leave_one_facility_out(
    settings: Settings, task: str, data_dir: Path, rows: pd.DataFrame, period_clean: Path
) -> pd.DataFrame:
    """One row per facility: the held-out refit and the champion on its prospective rows."""
    config, t = settings.tasks[task], settings.training
    data, _ = load_task_data(data_dir, config, t.scale, t.seed)
    if data.table is None:
        raise DecisionError(f"{task}: leaving a facility out needs its table in memory")
    development = data.table.assign(**{FACILITY: facility_of(data.table, data_dir / "clean")})
    judged = rows.assign(**{FACILITY: facility_of(rows, period_clean)})
    family, params = champion_configuration(settings, task)
    table = []
    for facility, held_out in judged.groupby(FACILITY):
        others = development[development[FACILITY] != facility]
        train, validation = (others[others["split"] == s] for s in ("train", "validation"))
        fitted = models.fit(
            family,
            config.kind,
            params,
            data.features,
            (data.matrix(train), train[config.target].to_numpy()),
            (data.matrix(validation), validation[config.target].to_numpy()),
            metric=config.metric,
            max_rounds=config.max_rounds,
            early_stopping_rounds=config.early_stopping_rounds,
            monotone=config.monotone,
            seed=t.seed,
        )
        calibration: dict = {"method": "none"}
        if config.kind == "binary" and config.calibration != "none":
            scores = fitted.model().raw_score_matrix(data.matrix(validation))
            labels = validation[config.target].to_numpy()
            method, _ = models.choose_calibration(config.calibration, scores, labels, t.seed)
            calibration = models.fit_calibration(method, scores, labels)
        y = held_out[config.target].to_numpy(dtype=float)
        refit = fitted.model(calibration).predict_matrix(data.matrix(held_out))
        table.append(
            {
                "facility_id": int(facility),
                "rows": len(held_out),
                **{f"held_out_{k}": v for k, v in _measures(config.kind, y, refit).items()},
                **{
                    f"champion_{k}": v
                    for k, v in _measures(config.kind, y, held_out[RISK].to_numpy()).items()
                },
            }
        )
    return pd.DataFrame(table)


def log_to_champion(settings: Settings, task: str, table: pd.DataFrame) -> None:
    """The table on the champion's run (``transport/facilities.json``), where its TRIPOD+AI
    report finds it."""
    champion = registry.champion_version(settings, task)
    registry.connect(settings).log_table(
        champion.run_id, table, f"{registry.TRANSPORT}/facilities.json"
    )
