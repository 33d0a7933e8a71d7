"""What the analysis notebooks share: where they read from, the inputs each one needs (and the
command that makes each), prose with computed numbers, and masked identifiers.

The notebooks (``notebooks/NN_*.ipynb``) are analyses built on the stages' own modules; this
package holds only what every notebook would otherwise repeat. ``python -m notebooks run``
executes them (``make notebooks``). Like the dashboard, the notebooks may import every stage.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from IPython import get_ipython
from IPython.display import Markdown, display

import decisions
import registry
from configs import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "notebooks"


def notebook_paths() -> list[Path]:
    """The notebooks, in the order they are read (01, 02, ...)."""
    return sorted(FOLDER.glob("[0-9][0-9]_*.ipynb"))


class MissingInputError(RuntimeError):
    """A notebook's input is not there: the message names the commands that make it."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the message is all a reader needs.
        return [f"{type(self).__name__}: {self}"]


@dataclass(frozen=True)
class Inputs:
    """A notebook's settings and data folder, every input it needs checked."""

    settings: Settings
    data_dir: Path

    @property
    def clean_dir(self) -> Path:
        return self.data_dir / "clean"

    def clean(self, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A de-identified clean table, whole (or some of its columns)."""
        return pd.read_parquet(self.clean_dir / f"{table}.parquet", columns=columns)

    def raw(self, table: str, filters: list[tuple] | None = None) -> pd.DataFrame:
        """A raw table (PHI for the patients: show no identifier), or its rows that pass the
        pyarrow ``filters``."""
        return pd.read_parquet(self.data_dir / "raw" / f"{table}.parquet", filters=filters)

    def features_path(self, task: str) -> Path:
        return self.data_dir / "features" / f"{self.settings.tasks[task].table}.parquet"

    def champion_run(self, task: str) -> str:
        """The MLflow run of a task's champion."""
        return registry.champion_version(self.settings, task).run_id

    def run_dict(self, task: str, path: str) -> dict:
        """A JSON artifact logged on a task's champion run (``evaluation/report.json``, ...)."""
        return mlflow.artifacts.load_dict(f"runs:/{self.champion_run(task)}/{path}")

    def run_table(self, task: str, path: str) -> pd.DataFrame:
        """A table logged on a task's champion run (``evaluation/subgroups.json``, ...)."""
        return registry.logged_table(self.champion_run(task), path)

    def monitor_runs(self) -> list[Path]:
        """The runs ``make monitor`` finished (each has a summary.md), oldest first."""
        reports = Path(self.settings.monitoring.reports_dir)
        summaries = sorted(reports.glob("*/summary.md"), key=lambda p: p.stat().st_mtime)
        return [summary.parent for summary in summaries]

    @property
    def decisions_dir(self) -> Path:
        return Path(self.settings.decisions.tables_dir)


# What a notebook may need: how to tell it is there, what it is, and the target that makes it.
Check = Callable[[Inputs], bool]


def _files(*paths: str) -> Check:
    """The check that these files exist under the data folder."""
    return lambda inputs: all((inputs.data_dir / path).exists() for path in paths)


def _champion_runs(inputs: Inputs) -> list[str] | None:
    """Every task's champion run, or None when a task has no champion."""
    try:
        return [inputs.champion_run(task) for task in inputs.settings.task_names]
    except registry.ChampionNotFoundError:
        return None


def _decided(inputs: Inputs) -> bool:
    period = decisions.period_folder(inputs.settings, inputs.data_dir) / "features"
    tables = [inputs.decisions_dir / "programme/programme.csv", period / "manifest.json"]
    if not all(path.exists() for path in tables) or (runs := _champion_runs(inputs)) is None:
        return False
    client = registry.connect(inputs.settings)
    summary = f"{registry.PROSPECTIVE}/summary.json"
    return all(
        summary in {a.path for a in client.list_artifacts(run, registry.PROSPECTIVE)}
        for run in runs
    )


NEEDS: dict[str, tuple[str, str, Check]] = {
    "world": (
        "the raw world and its truth ({data}/raw, {data}/oracle)",
        "make data",
        _files("raw/manifest.json", "oracle/encounters.parquet"),
    ),
    "clean": (
        "the clean tables and the quarantine ({data}/clean, {data}/quarantine)",
        "make etl",
        _files("clean/encounters.parquet", "quarantine/summary.json"),
    ),
    "features": (
        "the feature tables ({data}/features)",
        "make features",
        _files("features/manifest.json"),
    ),
    "champions": (
        "every task's champion in the MLflow registry",
        "make train",
        lambda inputs: _champion_runs(inputs) is not None,
    ),
    "monitoring": (
        "a monitoring run ({reports}/<run>/)",
        "make monitor",
        lambda inputs: bool(inputs.monitor_runs()),
    ),
    "decisions": (
        "the prospective period, its validation on the champions' runs and the programme's tables",
        "make decisions",
        _decided,
    ),
}


def open_inputs(
    profile: str | None, data_dir: str, overrides: Iterable[str], needs: Iterable[str]
) -> Inputs:
    """A notebook's first step: its settings and data folder, or ``MissingInputError`` naming
    every missing input and the command that makes it."""
    # The stages' relative paths (data/, reports/, the MLflow store) are the repository root's,
    # where make runs them; a notebook's kernel starts in notebooks/.
    os.chdir(ROOT)
    settings = load_settings(profile, list(overrides))
    inputs = Inputs(settings, Path(data_dir).resolve())
    registry.connect(settings)
    missing = [NEEDS[need] for need in needs if not NEEDS[need][2](inputs)]
    if missing:
        suffix = "" if settings.profile == "default" else f" PROFILE={settings.profile}"
        places = {"data": inputs.data_dir, "reports": settings.monitoring.reports_dir}
        lines = "; ".join(
            f"{what.format(**places)}: run `{command}{suffix}`" for what, command, _ in missing
        )
        raise MissingInputError(f"this notebook reads what is not there yet: {lines}.")
    if (shell := get_ipython()) is not None:
        # training.evaluate draws headless (Agg) for MLflow; a notebook shows its figures.
        shell.run_line_magic("matplotlib", "inline")
    plt.rcParams.update(
        {"figure.figsize": (9, 4), "figure.dpi": 100, "axes.spines.top": False,
         "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3}
    )  # fmt: skip
    return inputs


def say(text: str) -> None:
    """Prose whose numbers were computed: Markdown, shown as the cell's output."""
    display(Markdown(textwrap.dedent(text).strip()))


def masked(values: pd.Series) -> pd.Series:
    """An identifier's shape without its value: letters become x, digits 9 (``999-99-9999``)."""
    return values.astype("string").map(
        lambda v: re.sub(r"\d", "9", re.sub(r"[^\W\d_]", "x", v)), na_action="ignore"
    )
