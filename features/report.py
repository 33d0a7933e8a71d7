"""Realism check: published clinical scores on the synthetic world, next to their papers' figures.

If LACE, HOSPITAL or NEWS2 discriminated far better or worse here than in their validation
cohorts, the world's causal model would be unrealistic: fix the world, not the score. Which scores
are checked, and against what, each task declares (``published`` in configs/tasks/<task>.yaml).
A small world cannot always tell: a score is ``off`` only when its whole 95% interval lies outside
the plausible range, and ``unsure`` when the estimate lies outside but the interval reaches in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from configs.training import TaskConfig
from features import partitions

VERDICTS = ("ok", "unsure", "off")
# The rows a check reads at most: a seeded sample beyond (a million patients' ward table has
# tens of millions of rows; half a million already pins an AUROC to about +-0.005).
MAX_ROWS = 500_000


@dataclass(frozen=True)
class ScoreCheck:
    task: str
    score: str
    outcome: str
    auroc: float
    low: float  # bootstrap 95% interval
    high: float
    published: str
    source: str
    plausible: tuple[float, float]
    ceiling: float  # the generator's oracle on the same rows

    @property
    def verdict(self) -> str:
        """ok: the estimate lies in the plausible range; off: its whole interval lies outside it;
        unsure: the estimate lies outside but its interval reaches in (too few rows to tell)."""
        floor, top = self.plausible
        if floor <= self.auroc <= top:
            return "ok"
        return "off" if self.high < floor or self.low > top else "unsure"


def bootstrap_auroc(
    label: np.ndarray, score: np.ndarray, resamples: int = 200, seed: int = 0
) -> tuple[float, float, float]:
    """AUROC and its percentile bootstrap 95% interval."""
    label, score = np.asarray(label), np.asarray(score)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        index = rng.integers(0, len(label), len(label))
        if label[index].min() != label[index].max():
            draws.append(roc_auc_score(label[index], score[index]))
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(roc_auc_score(label, score)), float(low), float(high)


def read_scored(
    paths: Mapping[str, Path], tasks: Mapping[str, TaskConfig]
) -> dict[str, pd.DataFrame]:
    """Per feature table, the columns the checks need (scores, targets, oracles), all rows or a
    seeded sample of ``MAX_ROWS``, read a part file at a time."""
    needed: dict[str, list[str]] = {}
    for task in tasks.values():
        needed.setdefault(task.table, []).extend([*task.published, task.target, task.oracle])
    return {
        table: partitions.read_sample(path, MAX_ROWS, 0, columns=list(dict.fromkeys(needed[table])))
        for table, path in paths.items()
    }


def realism(
    tables: Mapping[str, pd.DataFrame], tasks: Mapping[str, TaskConfig]
) -> list[ScoreCheck]:
    """Every published score of every task, on that task's table (all splits)."""
    checks = []
    for name, task in tasks.items():
        table = tables[task.table]
        for score, published in task.published.items():
            scored = table[table[score].notna() & table[task.target].notna()]
            auroc, low, high = bootstrap_auroc(scored[task.target], scored[score])
            ceiling = roc_auc_score(scored[task.target], scored[task.oracle])
            checks.append(
                ScoreCheck(
                    name, score, published.outcome, auroc, low, high, published.auroc,
                    published.source, published.plausible, ceiling,
                )
            )  # fmt: skip
    return checks
