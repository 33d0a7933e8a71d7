"""The allowed values of every categorical field, in one place.

The generator's configuration, the ETL's pandera models, the feature code (its one-hot levels) and
the server's request schemas all read them here, so a new payer or unit is added once.
"""

from __future__ import annotations

SEXES = ("F", "M")
RACES = ("white", "black", "asian", "other")
ETHNICITIES = ("hispanic", "not_hispanic")
PAYERS = ("medicare", "medicaid", "commercial", "self_pay")
FACILITY_TYPES = ("academic", "community", "critical_access")
ADMISSION_TYPES = ("emergency", "urgent", "elective")
UNPLANNED_ADMISSION_TYPES = ("emergency", "urgent")  # LACE's "acute", HOSPITAL's "urgent"
ADMISSION_SOURCES = ("emergency_department", "physician_referral", "transfer")
SHIFTS = ("day", "night")
UNITS = ("medicine", "cardiology", "surgery", "orthopedics", "neurology", "oncology", "icu")
WARD_UNITS = UNITS[:-1]  # where a patient is nursed outside the ICU
PROTOCOLS = ("standard", "enhanced", "conservative")
# Where a patient goes at discharge, alive; a death in hospital is recorded as EXPIRED.
DISPOSITIONS = ("home", "home_health", "snf", "rehab", "hospice", "ama", "transfer")
EXPIRED = "expired"
DISCHARGE_DISPOSITIONS = (*DISPOSITIONS, EXPIRED)
ED_DISPOSITIONS = ("admitted", "discharged", "left_without_being_seen")
DETERIORATION_EVENTS = ("icu_transfer", "rapid_response", "death")
DRG_SEVERITIES = ("none", "cc", "mcc")  # an MS-DRG family's tiers: no CC or MCC, a CC, an MCC
LAB_TESTS = ("haemoglobin", "sodium", "creatinine", "wbc", "lactate")
CONSCIOUSNESS = ("A", "C", "V", "P", "U")  # ACVPU: alert, new confusion, voice, pain, unresponsive
MEDICATION_ROUTES = ("oral", "intravenous", "subcutaneous", "inhaled")
DOSE_UNITS = ("mg", "mcg", "g", "unit", "mEq")
# How often a drug is given, and how many administrations a day that makes.
DOSES_PER_DAY = {
    "daily": 1, "twice_daily": 2, "three_times_daily": 3, "every_4_hours": 6, "every_6_hours": 4,
    "every_8_hours": 3, "every_12_hours": 2, "at_bedtime": 1, "with_meals": 3,
}  # fmt: skip
MEDICATION_FREQUENCIES = tuple(DOSES_PER_DAY)
MEDICATION_SOURCES = ("home", "inpatient")  # reconciled home medicine, or ordered in hospital
ADVERSE_DRUG_EVENTS = (
    "bleeding", "hyperkalaemia", "respiratory_depression", "arrhythmia", "acute_kidney_injury",
    "serotonin_syndrome", "myopathy",
)  # fmt: skip
INTERACTION_SEVERITIES = (
    "contraindicated",
    "major",
    "moderate",
)  # a knowledge base's, severest first
ALERT_TIERS = (
    "interruptive",
    "passive",
    "informational",
)  # how an alert is shown, most intrusive first
