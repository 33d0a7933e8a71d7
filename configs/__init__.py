"""Typed, profile-aware configuration for every stage.

Settings live in YAML files beside this module, one concern per file (``data_gen.yaml`` for the
synthetic world, then features, the engine that runs the batch stages, training, serving,
monitoring, operations, finance, the drug-interaction knowledge base, the decisions and the
dashboard), and one file per task under ``tasks/`` (a task's only declaration). A profile under
``profiles/`` overrides a few keys (sizes, budgets); ``key=value`` overrides from the command line
come last.
The merged result is validated by pydantic models that forbid unknown keys, and every error names
the file (or the command line) that set the offending key. ``$HOSPITAL_CONFIG_DIR`` points at
another folder laid out like this one. Beside them: ``vocabulary`` (the allowed values of
categorical fields) and ``cli`` (what the stages' command lines share).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from configs.dashboard import DashboardConfig
from configs.data_gen import DataGenConfig
from configs.decisions import DecisionsConfig
from configs.engine import EngineConfig
from configs.features import FeaturesConfig
from configs.finance import FinanceConfig
from configs.medications import MedicationsConfig
from configs.monitoring import MonitoringConfig
from configs.operations import OperationsConfig
from configs.serving import ServingConfig
from configs.training import TASK_NAME, TaskConfig, TrainingConfig

CONFIG_DIR = Path(__file__).resolve().parent
# A folder laid out like this one, to run everything on another configuration (tests use it to
# declare a task in a temporary copy).
CONFIG_DIR_ENV = "HOSPITAL_CONFIG_DIR"
PROFILES = ("small", "default", "large")
DEFAULT_PROFILE = "default"
PROFILE_ENV = "PROFILE"
# One YAML file per top-level section; the section name is the file name.
SECTION_FILES = {
    "data_gen": "data_gen.yaml",
    "features": "features.yaml",
    "engine": "engine.yaml",
    "training": "training.yaml",
    "serving": "serving.yaml",
    "monitoring": "monitoring.yaml",
    "operations": "operations.yaml",
    "finance": "finance.yaml",
    "medications": "medications.yaml",
    "decisions": "decisions.yaml",
    "dashboard": "dashboard.yaml",
}
# Sections with one YAML file per entry: tasks/readmission.yaml is tasks.readmission.
SECTION_FOLDERS = {"tasks": "tasks"}


class ConfigError(ValueError):
    """A configuration that cannot be loaded; the message names the source, key and problem."""


class Settings(BaseModel):
    """The fully resolved configuration of one run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str
    data_gen: DataGenConfig
    features: FeaturesConfig
    engine: EngineConfig
    training: TrainingConfig
    tasks: dict[str, TaskConfig]
    serving: ServingConfig
    monitoring: MonitoringConfig
    operations: OperationsConfig
    finance: FinanceConfig
    medications: MedicationsConfig
    decisions: DecisionsConfig
    dashboard: DashboardConfig

    @model_validator(mode="after")
    def _tasks_declared(self) -> Settings:
        for name in self.tasks:
            if not re.match(TASK_NAME, name):
                raise ValueError(f"task name {name!r} must match {TASK_NAME} (it is a route)")
        tables = [task.table for task in self.tasks.values()]
        if repeated := sorted({t for t in tables if tables.count(t) > 1}):
            raise ValueError(f"tasks share the feature table(s) {repeated}")
        known = set(self.data_gen.medications.formulary) | self.data_gen.medications.classes
        for i, rule in enumerate(self.medications.interactions):
            if unknown := sorted({rule.a, rule.b} - known):
                raise ValueError(
                    f"medications.interactions[{i}]: {unknown} is no drug or class of the"
                    " formulary (data_gen.medications.formulary)"
                )
        study = self.medications.antibiotic_timing_study
        if study.drug_class not in self.data_gen.medications.classes:
            raise ValueError(
                f"medications.antibiotic_timing_study.drug_class: {study.drug_class!r} is no class"
                " of the formulary (data_gen.medications.formulary)"
            )
        if self.decisions.period_scenario not in self.data_gen.next_period.scenarios:
            raise ValueError(
                f"decisions.period_scenario: {self.decisions.period_scenario!r} is no scenario of"
                " data_gen.next_period.scenarios"
            )
        unknown = [t for t in self.training.tasks or [] if t not in self.tasks]
        if unknown:
            raise ValueError(
                f"training.tasks names {unknown}, which configs/tasks/ does not declare"
            )
        return self

    @property
    def task_names(self) -> list[str]:
        """The tasks that are trained, served and monitored: ``training.tasks``, or else every
        task declared in ``configs/tasks/``."""
        return list(self.training.tasks or self.tasks)

    def fingerprint(self, section: str, exclude: Iterable[str] = ()) -> str:
        """Stable hash of one section, ignoring keys that do not change its output."""
        payload = getattr(self, section).model_dump(mode="json", exclude=set(exclude))
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def load_settings(
    profile: str | None = None,
    overrides: Iterable[str] = (),
    config_dir: Path | None = None,
) -> Settings:
    """Load the base YAML files, apply a profile and ``key=value`` overrides, and validate."""
    config_dir = config_dir or Path(os.environ.get(CONFIG_DIR_ENV) or CONFIG_DIR)
    profile = profile or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")

    merged: dict[str, Any] = {"profile": profile}
    sources: dict[tuple[str, ...], str] = {}
    for section, filename in SECTION_FILES.items():
        path = config_dir / filename
        merged[section] = _read_yaml(path)
        _record_sources(merged[section], (section,), _display(path), sources)
    for section, folder in SECTION_FOLDERS.items():
        merged[section] = {}
        for path in sorted((config_dir / folder).glob("*.yaml")):
            merged[section][path.stem] = _read_yaml(path)
            _record_sources(
                merged[section][path.stem], (section, path.stem), _display(path), sources
            )

    profile_path = config_dir / "profiles" / f"{profile}.yaml"
    profile_data = _read_yaml(profile_path)
    _deep_merge(merged, profile_data, (), _display(profile_path), sources)

    for assignment in overrides:
        path_keys, value = _parse_override(assignment, merged)
        _set_path(merged, path_keys, value)
        sources[path_keys] = f"command line ({assignment})"

    try:
        return Settings.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(_describe(error, sources)) from None


def load_settings_or_exit(profile: str | None, overrides: Iterable[str] | None) -> Settings:
    """For command lines: the settings, or the error on standard error and exit status 2."""
    try:
        return load_settings(profile, overrides or [])
    except ConfigError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"{_display(path)}: file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{_display(path)}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{_display(path)}: expected a mapping of keys at the top level")
    return data


def _record_sources(
    data: Any, prefix: tuple[str, ...], source: str, sources: dict[tuple[str, ...], str]
) -> None:
    sources[prefix] = source
    if isinstance(data, Mapping):
        for key, value in data.items():
            _record_sources(value, (*prefix, str(key)), source, sources)


def _deep_merge(
    base: dict[str, Any],
    update: Mapping[str, Any],
    prefix: tuple[str, ...],
    source: str,
    sources: dict[tuple[str, ...], str],
) -> None:
    for key, value in update.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value, path, source, sources)
        else:
            base[key] = value
            _record_sources(value, path, source, sources)


def _leaf_paths(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for key, value in data.items():
        path = (*prefix, str(key))
        paths.append(path)
        if isinstance(value, Mapping):
            paths.extend(_leaf_paths(value, path))
    return paths


def _parse_override(assignment: str, merged: Mapping[str, Any]) -> tuple[tuple[str, ...], Any]:
    """Resolve ``a.b=value`` (or an unambiguous key name such as ``workers=2``) to a path."""
    key, sep, raw_value = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"command line: override {assignment!r} is not of the form key=value")
    wanted = tuple(key.split("."))
    candidates = [p for p in _leaf_paths(merged) if p[-len(wanted) :] == wanted]
    if len(candidates) > 1 and wanted in candidates:
        candidates = [wanted]
    if not candidates:
        raise ConfigError(f"command line: unknown key {key!r} in override {assignment!r}")
    if len(candidates) > 1:
        spelled = ", ".join(".".join(p) for p in candidates)
        raise ConfigError(f"command line: key {key!r} is ambiguous; write one of: {spelled}")
    try:
        value = yaml.safe_load(raw_value) if raw_value.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(
            f"command line: cannot read the value in {assignment!r}: {error}"
        ) from None
    return candidates[0], value


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _describe(error: ValidationError, sources: Mapping[tuple[str, ...], str]) -> str:
    lines = ["invalid configuration:"]
    for item in error.errors():
        loc = tuple(str(part) for part in item["loc"])
        source = _nearest_source(loc, sources)
        key = ".".join(loc)
        problem = item["msg"]
        if item["type"] == "extra_forbidden":
            problem = "unknown key (not a setting; check its spelling)"
        elif "input" in item and not isinstance(item["input"], dict | list):
            problem = f"{problem} (got {item['input']!r})"
        lines.append(f"  {source}: {key}: {problem}")
    return "\n".join(lines)


def _nearest_source(loc: tuple[str, ...], sources: Mapping[tuple[str, ...], str]) -> str:
    for end in range(len(loc), 0, -1):
        if loc[:end] in sources:
            return sources[loc[:end]]
    return "configuration"


__all__ = [
    "PROFILES",
    "ConfigError",
    "DataGenConfig",
    "FeaturesConfig",
    "Settings",
    "load_settings",
]
