"""Patients: who is admitted, their comorbidity burden, and who comes back."""

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import analysis, data, ui
from monitoring import kpis

WINDOWS = [f"readmitted_{w}d" for w in analysis.READMISSION_WINDOWS_DAYS]
WINDOW_NAMES = {f"readmitted_{w}d": f"{w} days" for w in analysis.READMISSION_WINDOWS_DAYS}

source = ui.inputs()
with ui.page(
    "Patients",
    "Demographics and comorbidity of the patients admitted, and unplanned readmission within 30, "
    "60 and 90 days of a discharge alive (a window counts only when the data cover it whole).",
):
    stays = data.stays(source)
    facility = ui.facility_filter(source)
    if facility != kpis.TOTAL:
        stays = stays[stays["facility"] == facility]
    first_stays = stays.sort_values("admitted_at").drop_duplicates("patient_key")

    st.subheader(f"Whole period, {ui.scope(facility)}")
    figures = [
        ("Patients", f"{len(first_stays):,}", "Patients with at least one stay."),
        ("Stays", f"{len(stays):,}", "Inpatient stays."),
        ("Median age", f"{stays['age_years'].median():.0f} years", "At admission, over stays."),
        (
            "30-day readmission",
            ui.percent(
                data.total(
                    data.kpi(source)["readmissions"], "readmitted_30d_rate", facility=facility
                )
            ),
            "Of discharges alive (not transferred out) in the months the records follow whole for "
            "30 days: the KPI table's figure.",
        ),
    ]
    ui.metric_row(figures)

    left, right = st.columns(2)
    with left:
        pyramid = first_stays.groupby(["age_band", "sex"]).size().rename("patients").reset_index()
        ui.styled(
            px.bar(pyramid, x="age_band", y="patients", color="sex", barmode="group"),
            "Patients by age band and sex (age at first stay)",
            "age band (years)",
            "patients",
        )
    with right:
        shares = pd.concat(
            [
                first_stays["payer"].value_counts(normalize=True).rename("share").to_frame(),
                first_stays["race"].value_counts(normalize=True).rename("share").to_frame(),
            ],
            keys=["payer", "race"],
            names=["characteristic", "group"],
        ).reset_index()
        ui.styled(
            px.bar(shares, x="group", y="share", color="characteristic"),
            "Patients by payer and by race",
            "group",
            "share of patients",
            ".0%",
        )

    left, right = st.columns(2)
    with left:
        burden = np.minimum(stays["charlson_index"], 6)
        counts = (
            burden.value_counts(normalize=True).sort_index().rename("share").reset_index()
        ).rename(columns={"charlson_index": "charlson"})
        counts["charlson"] = counts["charlson"].map(lambda v: "6+" if v >= 6 else str(int(v)))
        ui.styled(
            px.bar(counts, x="charlson", y="share").update_xaxes(type="category"),
            "Comorbidity burden: Charlson index at admission",
            "Charlson index (points, present-on-admission diagnoses)",
            "share of stays",
            ".0%",
        )
    with right:
        by_band = stays.groupby("age_band")["charlson_index"].mean().rename("mean").reset_index()
        ui.styled(
            px.bar(by_band, x="age_band", y="mean"),
            "Mean Charlson index by age band",
            "age band (years)",
            "Charlson index (points)",
        )

    st.subheader("Readmission within 30, 60 and 90 days")
    for group, title in (
        ("diagnosis_group", "by principal diagnosis group"),
        ("age_band", "by age band (years)"),
        ("payer", "by payer"),
    ):
        rates = stays.groupby(group)[WINDOWS].mean().reset_index()
        rates = rates.melt(group, WINDOWS, var_name="window", value_name="rate")
        rates["window"] = rates["window"].map(WINDOW_NAMES)
        ui.styled(
            px.bar(rates, x=group, y="rate", color="window", barmode="group"),
            f"Unplanned readmission {title}",
            group.replace("_", " "),
            "share of discharges alive",
            ".0%",
        )
