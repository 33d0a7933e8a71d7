"""The raw and oracle tables' Arrow schemas: the contract between the generator and the ETL.

Every block is cast to these schemas before it is written, so that all blocks (including empty
ones) write the same types, and the files carry no pandas-specific metadata.
"""

from __future__ import annotations

import pyarrow as pa

TIME = pa.timestamp("ms")  # Parquet stores second-resolution times as milliseconds


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, kind) for name, kind in fields])


RAW = {
    "facilities": _schema(
        ("facility_id", pa.int64()),
        ("name", pa.string()),
        ("type", pa.string()),
        ("region", pa.string()),
        ("zip3", pa.string()),
        ("staffed_beds", pa.int32()),
        ("icu_beds", pa.int32()),
    ),
    "patients": _schema(
        ("patient_id", pa.int64()),
        ("mrn", pa.string()),
        ("ssn", pa.string()),
        ("first_name", pa.string()),
        ("last_name", pa.string()),
        ("birth_date", pa.date32()),
        ("sex", pa.string()),
        ("race", pa.string()),
        ("ethnicity", pa.string()),
        ("address", pa.string()),
        ("city", pa.string()),
        ("state", pa.string()),
        ("zip", pa.string()),
        ("phone", pa.string()),
        ("payer", pa.string()),
        ("home_facility_id", pa.int64()),
    ),
    "encounters": _schema(
        ("encounter_id", pa.int64()),
        ("patient_id", pa.int64()),
        ("facility_id", pa.int64()),
        ("admitted_at", TIME),
        ("discharged_at", TIME),
        ("admission_type", pa.string()),
        ("admission_source", pa.string()),
        ("unit", pa.string()),
        ("ward_unit", pa.string()),
        ("primary_dx_code", pa.string()),
        ("discharge_disposition", pa.string()),
        ("icu_days", pa.float64()),
        ("deterioration_event", pa.string()),
        ("deterioration_at", TIME),
        ("treatment_protocol", pa.string()),
        ("treatment_success", pa.bool_()),
        ("complication", pa.bool_()),
        ("total_cost_usd", pa.float64()),
        ("satisfaction_score", pa.int8()),
    ),
    "diagnoses": _schema(
        ("encounter_id", pa.int64()),
        ("code", pa.string()),
        ("present_on_admission", pa.bool_()),
        ("position", pa.int16()),
    ),
    "procedures": _schema(
        ("procedure_id", pa.int64()),
        ("encounter_id", pa.int64()),
        ("code", pa.string()),
        ("description", pa.string()),
        ("performed_at", TIME),
    ),
    "vitals": _schema(
        ("observation_id", pa.int64()),
        ("encounter_id", pa.int64()),
        ("observed_at", TIME),
        ("heart_rate", pa.int16()),
        ("respiratory_rate", pa.int16()),
        ("spo2", pa.int16()),
        ("on_oxygen", pa.bool_()),
        ("temperature_c", pa.float32()),
        ("systolic_bp", pa.int16()),
        ("consciousness", pa.string()),
    ),
    "labs": _schema(
        ("lab_id", pa.int64()),
        ("encounter_id", pa.int64()),
        ("drawn_at", TIME),
        ("test", pa.string()),
        ("loinc", pa.string()),
        ("value", pa.float32()),
        ("unit", pa.string()),
    ),
    "ed_visits": _schema(
        ("ed_visit_id", pa.int64()),
        ("patient_id", pa.int64()),
        ("facility_id", pa.int64()),
        ("arrival_at", TIME),
        ("triage_at", TIME),
        ("provider_at", TIME),
        ("admit_decision_at", TIME),
        ("departure_at", TIME),
        ("esi_level", pa.int8()),
        ("disposition", pa.string()),
        ("encounter_id", pa.int64()),
    ),
    "nurse_staffing": _schema(
        ("facility_id", pa.int64()),
        ("unit", pa.string()),
        ("shift_start", TIME),
        ("shift", pa.string()),
        ("scheduled_rn", pa.int32()),
        ("sick_calls", pa.int32()),
        ("float_in_rn", pa.int32()),
        ("float_out_rn", pa.int32()),
        ("overtime_rn", pa.int32()),
        ("agency_rn", pa.int32()),
        ("worked_rn", pa.int32()),
        ("cost_usd", pa.float64()),
        ("rn_hours", pa.float64()),
    ),
    "ed_providers": _schema(
        ("facility_id", pa.int64()),
        ("hour", pa.int8()),
        ("providers", pa.int32()),
    ),
}

ORACLE = {
    "encounters": _schema(
        ("encounter_id", pa.int64()),
        ("p_readmit_30d", pa.float64()),
        ("p_readmit_60d", pa.float64()),
        ("p_readmit_90d", pa.float64()),
        ("expected_los_days", pa.float64()),
        ("expected_icu_days", pa.float64()),
        ("expected_cost_usd", pa.float64()),
        ("p_in_hospital_death", pa.float64()),
        ("p_treatment_success", pa.float64()),
        ("p_complication", pa.float64()),
        ("initial_severity_state", pa.int8()),
        ("deterioration_group", pa.int8()),
    ),
    "vitals": _schema(
        ("observation_id", pa.int64()),
        ("encounter_id", pa.int64()),
        ("observed_at", TIME),
        ("severity_state", pa.int8()),
        ("p_deterioration_24h", pa.float64()),
    ),
    "patients": _schema(
        ("patient_id", pa.int64()),
        ("frailty", pa.float64()),
        ("charlson_true", pa.int16()),
        ("unplanned_admissions_per_year", pa.float64()),
        ("ed_visits_per_year", pa.float64()),
    ),
    "staffing": _schema(
        ("facility_id", pa.int64()),
        ("unit", pa.string()),
        ("shift_start", TIME),
        ("census", pa.float64()),
        ("patients_per_nurse", pa.float64()),
        ("excess_patients_per_nurse", pa.float64()),
        ("base_events", pa.float64()),
        ("events", pa.float64()),
        ("base_deaths", pa.float64()),
        ("deaths", pa.float64()),
    ),
    "ed_load": _schema(
        ("facility_id", pa.int64()),
        ("weekday", pa.int8()),
        ("hour", pa.int8()),
        ("expected_arrivals", pa.float64()),
        ("providers", pa.int32()),
        ("load", pa.float64()),
        ("wait_multiplier", pa.float64()),
    ),
}
