"""Typed schema of ``medications.yaml``: the interaction knowledge base, its alert tiers, and the
efficacy study's definition."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from configs.data_gen import ICD10CM, Name, Strict
from configs.vocabulary import ADVERSE_DRUG_EVENTS, ALERT_TIERS, INTERACTION_SEVERITIES


class Interaction(Strict):
    """One rule of the knowledge base: two classes or drugs that should not meet unremarked."""

    a: Name
    b: Name
    severity: Literal[INTERACTION_SEVERITIES]
    effect: Literal[ADVERSE_DRUG_EVENTS]
    mechanism: Annotated[str, Field(min_length=10)]
    action: Annotated[str, Field(min_length=10)]
    source: Annotated[str, Field(min_length=5)]


class AntibioticTimingStudy(Strict):
    """The efficacy study's cohort and exposure (``pharmacy.efficacy``)."""

    diagnosis_groups: Annotated[list[Name], Field(min_length=1)]  # principal-diagnosis groups
    drug_class: Name  # a class of the formulary: the drugs whose first dose is timed
    bundle_hours: Annotated[float, Field(gt=0.0, le=48.0)]  # a first dose by then is early


class MedicationsConfig(Strict):
    interactions: Annotated[list[Interaction], Field(min_length=1)]
    tiers: dict[Literal[INTERACTION_SEVERITIES], Literal[ALERT_TIERS]]
    max_list_size: Annotated[int, Field(ge=2, le=10_000)]
    event_codes: dict[Literal[ADVERSE_DRUG_EVENTS], Annotated[list[ICD10CM], Field(min_length=1)]]
    tables_dir: str
    antibiotic_timing_study: AntibioticTimingStudy

    @model_validator(mode="after")
    def _every_severity_tiered(self) -> MedicationsConfig:
        if missing := set(INTERACTION_SEVERITIES) - set(self.tiers):
            raise ValueError(f"tiers: no tier for severities {sorted(missing)}")
        if missing := set(ADVERSE_DRUG_EVENTS) - set(self.event_codes):
            raise ValueError(f"event_codes: no codes for {sorted(missing)}")
        pairs = [frozenset((rule.a, rule.b)) for rule in self.interactions]
        if repeated := {tuple(sorted(p)) for p in pairs if pairs.count(p) > 1}:
            raise ValueError(f"interactions: pairs listed twice {sorted(repeated)}")
        return self
