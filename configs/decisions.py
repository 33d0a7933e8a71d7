"""Typed schema of ``decisions.yaml``: what acting on the models is worth, judged in the world."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from configs.data_gen import Strict

Share = Annotated[float, Field(gt=0.0, lt=1.0)]


class TransitionalCare(Strict):
    """A care-transition programme offered at discharge to the patients a rule picks."""

    relative_reduction: Share
    cost_per_patient_usd: Annotated[float, Field(ge=0.0)]
    capacities_per_month: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1)]
    lace_threshold: Annotated[int, Field(ge=0, le=19)]
    seed: Annotated[int, Field(ge=0)]


class RapidResponse(Strict):
    """Alerts to the ward's rapid-response nurse from the deterioration risk or NEWS2."""

    news2_thresholds: Annotated[list[Annotated[int, Field(ge=1, le=20)]], Field(min_length=1)]
    window_hours: Annotated[float, Field(gt=0.0, le=72.0)]
    lead_hours: Annotated[float, Field(ge=0.0, le=24.0)]
    shift_hours: Annotated[int, Field(ge=1, le=24)]


class SeedClaims(Strict):
    """The founding brief's business-impact claims, tested in the world."""

    readmission_reduction: Share
    annual_savings_usd: Annotated[float, Field(gt=0.0)]


class DecisionsConfig(Strict):
    period_scenario: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    transitional_care: TransitionalCare
    rapid_response: RapidResponse
    seed_claims: SeedClaims
    validation_rows: Annotated[int, Field(ge=1_000)]
    tables_dir: str
