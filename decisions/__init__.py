"""What acting on the champions is worth, judged against the world's truth on a period none of
them has seen (the ``decisions.period_scenario`` period, which ``make decisions`` generates): a
transitional-care programme targeted by readmission risk (``programme``) and a rapid-response
policy on the wards (``rapid_response``), with the founding brief's claims tested.

Reads files and the registry only: the period's clean and feature tables, and the champions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import registry
from configs import Settings
from data_gen.period import period_dir
from features import partitions

RISK = "risk"  # the champion's predicted probability, added to a period's rows


class DecisionError(RuntimeError):
    """Inputs a decision cannot be judged on: the message says what is missing and what makes it."""


def period_folder(settings: Settings, data_dir: Path) -> Path:
    """``data/periods/<scenario>``: the period the decisions are judged on."""
    return period_dir(data_dir, settings.decisions.period_scenario)


def period_rows(settings: Settings, task: str, data_dir: Path) -> pd.DataFrame:
    """Every prediction point of the period (its warm-up left out) of a task's feature table,
    with the task's champion's risk (``risk``)."""
    folder = period_folder(settings, data_dir)
    path = folder / "features" / f"{settings.tasks[task].table}.parquet"
    if not path.exists():
        raise DecisionError(
            f"no {task} features for the {settings.decisions.period_scenario!r} period in "
            f"{folder}: run `make decisions` (it generates the period)"
        )
    start = pd.Timestamp(settings.data_gen.end_date)
    rows = partitions.read_sample(path, None, 0, partitions.predicted_from(start))
    label = settings.tasks[task].target
    rows = rows[rows[label].notna()].reset_index(drop=True)
    if rows.empty:
        raise DecisionError(
            f"the {settings.decisions.period_scenario!r} period holds no {task} rows"
        )
    champion = registry.load_champion(settings, task)
    rows[RISK] = champion.model.predict(None, rows[champion.model.features])
    return rows


def period_months(settings: Settings) -> int:
    """The length of the period the decisions are judged on."""
    period = settings.data_gen.next_period
    return period.scenarios[settings.decisions.period_scenario].length(period)
