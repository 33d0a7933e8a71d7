"""The data dictionary of the feature tables, generated from the feature code."""

from __future__ import annotations

from configs import Settings
from features import cases
from features.build import GROUP_MEAN_PREFIX, roles

OTHER_COLUMNS = {
    "encounter_key": ("key", "pseudonymous stay key (keyed HMAC of the stay identifier)", ""),
    "patient_key": ("key", "pseudonymous patient key (keyed HMAC of the patient identifier)", ""),
    "prediction_time": ("key", "when the prediction is made", "timestamp"),
    "split": (
        "split",
        "train, validation or test: by patient and time, test is the latest period",
        "",
    ),
    "group_sex": ("subgroup", "sex, for subgroup metrics (never a feature)", ""),
    "group_age_band": ("subgroup", "age band, for subgroup metrics (never a feature)", "years"),
    "group_race": ("subgroup", "race, for subgroup metrics (never a feature)", ""),
    "group_payer": ("subgroup", "payer, for subgroup metrics (never a feature)", ""),
}


def baseline_name(column: str) -> str:
    """A baseline's short name: LACE, HOSPITAL, NEWS2, NEWS2 at admission, or group mean."""
    if column.startswith(GROUP_MEAN_PREFIX):
        return "group mean"
    name = column.removesuffix("_score").upper()
    return f"{name.removeprefix('ADMIT_')} at admission" if name.startswith("ADMIT_") else name


def _label_meaning(name: str) -> tuple[str, str]:
    if name.startswith("readmitted_"):
        return f"unplanned readmission within {name.split('_')[1]} of discharge", "0/1"
    if name.startswith("deteriorated_"):
        return f"ICU transfer, rapid response or death within {name.split('_')[1]}", "0/1"
    if name.startswith("long_stay_"):
        return f"stay longer than {name.split('_')[2]}", "0/1"
    return {
        "los_days": ("length of stay", "days"),
        "total_cost_usd": ("total cost of the stay", "USD"),
        "died_in_hospital": ("death in hospital during the stay", "0/1"),
    }[name]


def rows(settings: Settings) -> list[dict[str, str]]:
    """One entry per column of each task table: task, column, role, meaning, unit, available."""
    config = settings.features
    specs = [*cases.FEATURES, *cases.trend_features(config.tasks.trend_hours)]
    by_column = {column: spec for spec in specs for column in spec.columns}
    entries = []
    for task in settings.task_names:
        declared = settings.tasks[task]
        r = roles(declared, config)
        when = cases.PREDICTION_TIMES[declared.case].format(hours=config.tasks.admission_hours)
        for column in r.columns:
            if column in r.features:
                spec = by_column[column]
                level = column.removeprefix(f"{spec.name}_") if spec.levels else ""
                meaning = f"{spec.meaning}: {level.replace('_', ' ')}" if level else spec.meaning
                role, unit = "feature", spec.unit
            elif column in r.labels:
                role, (meaning, unit) = "label", _label_meaning(column)
            elif column in r.baselines:
                role, unit = (
                    "baseline",
                    "as the label" if column.startswith(GROUP_MEAN_PREFIX) else "points",
                )
                meaning = (
                    "mean of the label in the principal-diagnosis group (training split)"
                    if column.startswith(GROUP_MEAN_PREFIX)
                    else by_column[column].meaning
                )
            elif column in r.oracle:
                role, unit = "oracle", "probability" if "_p_" in column else "as the label"
                meaning = "the generator's true value for the label; never a feature"
            else:
                role, meaning, unit = OTHER_COLUMNS[column]
            available = when if role in ("feature", "baseline") else "after the outcome"
            if role in ("key", "split", "subgroup"):
                available = when
            entries.append(
                {
                    "task": task,
                    "column": column,
                    "role": role,
                    "meaning": meaning,
                    "unit": unit,
                    "available": available,
                }
            )
    return entries


def markdown(settings: Settings) -> str:
    lines = [
        "# Data dictionary of the feature tables",
        "",
        "Generated from the feature code by `python -m features dictionary`; do not edit by hand.",
        "Roles: `feature` (a model input), `label` (the outcome), `baseline` (the clinical score",
        "or group mean to beat), `oracle` (the generator's true risk: the ceiling, never a",
        "feature), `subgroup` (for fairness metrics, never a feature), `key` and `split`.",
    ]
    entries = rows(settings)
    for task in settings.task_names:
        lines += [
            "",
            f"## {task}",
            "",
            "| column | role | meaning | unit | available |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| `{e['column']}` | {e['role']} | {e['meaning']} | {e['unit']} | {e['available']} |"
            for e in entries
            if e["task"] == task
        ]
    return "\n".join(lines) + "\n"
