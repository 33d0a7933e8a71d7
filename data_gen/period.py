"""A "next period" of the world, for monitoring: the months right after the span, with a named
scenario's shift (``configs/data_gen.yaml``, ``next_period``).

The period's world has the same facilities and causal model and new patients (another seed). It
is generated with a history of ``warmup_months`` before the period, so that prior admissions and
ED visits count as they do in the span; monitoring compares only the stays of the period itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from configs import ConfigError, Settings
from configs.data_gen import DataGenConfig
from data_gen import generate

PERIODS_DIR = "periods"


def period_config(config: DataGenConfig, scenario: str) -> DataGenConfig:
    """The world of the period after the span under ``scenario``, with its warm-up history."""
    period = config.next_period
    if scenario not in period.scenarios:
        raise ConfigError(
            f"unknown scenario {scenario!r}: choose one of {', '.join(period.scenarios)} "
            "(configs/data_gen.yaml, next_period.scenarios)"
        )
    chosen = period.scenarios[scenario]
    start = config.end_date
    world: dict[str, Any] = config.model_dump()
    world.update(
        seed=config.seed + period.seed_offset,
        start_date=(pd.Timestamp(start) - pd.DateOffset(months=period.warmup_months)).date(),
        months=period.warmup_months + chosen.length(period),
    )
    for key, value in chosen.overrides.items():
        *path, leaf = key.split(".")
        section = world
        for part in path:
            section = section.get(part) if isinstance(section, dict) else None
        if not isinstance(section, dict) or leaf not in section:
            raise ConfigError(f"scenario {scenario!r}: no data_gen key {key!r} to override")
        section[leaf] = value
    for group in world["diagnoses"]:
        group["share"] *= chosen.diagnosis_share_multipliers.get(group["name"], 1.0)
    for condition in world["comorbidities"]:
        prevalence = condition["prevalence_at_65"] * chosen.comorbidity_prevalence_multiplier
        condition["prevalence_at_65"] = min(prevalence, 0.95)
    world["coding_changes"] = [
        *world["coding_changes"],
        *({"from_date": start, "prefix": prefix, "code": code}
          for prefix, code in chosen.recode.items()),
    ]  # fmt: skip
    try:
        return DataGenConfig.model_validate(world)
    except ValueError as error:
        raise ConfigError(f"scenario {scenario!r} makes an invalid world: {error}") from None


def period_settings(settings: Settings, scenario: str) -> Settings:
    return settings.model_copy(
        update={"data_gen": period_config(settings.data_gen, scenario)}, deep=True
    )


def period_dir(data_dir: Path, scenario: str) -> Path:
    return data_dir / PERIODS_DIR / scenario


def generate_period(settings: Settings, scenario: str, data_dir: Path, **options) -> dict:
    """Generate the period's world into ``data/periods/<scenario>/`` (raw/ and oracle/)."""
    return generate.generate(
        period_settings(settings, scenario), period_dir(data_dir, scenario), **options
    )
