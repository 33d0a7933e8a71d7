"""Realism check: published clinical scores on the synthetic world, next to their papers' figures.

If LACE, HOSPITAL or NEWS2 discriminated far better or worse here than in their validation
cohorts, the world's causal model would be unrealistic: fix the world, not the score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


@dataclass(frozen=True)
class ScoreCheck:
    """Published figures: LACE 0.684 (van Walraven 2010; 0.681 in 368k stays), HOSPITAL 0.71
    (Donze 2013; 0.72 in 117k discharges), NEWS2 0.873 for death, ICU or arrest within 24 h
    (Smith 2013; 0.84-0.89 in later cohorts)."""

    score: str
    outcome: str
    auroc: float
    low: float  # bootstrap 95% interval
    high: float
    published: str
    plausible: tuple[float, float]
    ceiling: float  # the generator's oracle on the same rows

    @property
    def ok(self) -> bool:
        return self.plausible[0] <= self.auroc <= self.plausible[1]


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


def realism(readmission: pd.DataFrame, deterioration: pd.DataFrame) -> list[ScoreCheck]:
    checks = []
    for score, published in (
        ("lace_score", "0.68"),
        ("hospital_score", "0.71-0.72"),
    ):
        auroc, low, high = bootstrap_auroc(readmission["readmitted_30d"], readmission[score])
        ceiling = roc_auc_score(readmission["readmitted_30d"], readmission["oracle_p_readmit_30d"])
        checks.append(
            ScoreCheck(
                score, "30-day readmission", auroc, low, high, published, (0.62, 0.75), ceiling
            )
        )
    scored = deterioration[deterioration["news2_score"].notna()]
    auroc, low, high = bootstrap_auroc(scored["deteriorated_24h"], scored["news2_score"])
    ceiling = roc_auc_score(scored["deteriorated_24h"], scored["oracle_p_deterioration_24h"])
    published = "0.84-0.89"
    checks.append(
        ScoreCheck(
            "news2_score", "deterioration 24 h", auroc, low, high, published, (0.75, 0.90),
            ceiling,
        )
    )  # fmt: skip
    return checks
