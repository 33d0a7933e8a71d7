"""Quality and staffing: satisfaction and net promoter score by unit and month, nurse staffing
(patients per nurse, nursing hours, unsafe shifts, overtime and agency), and complications by
procedure."""

import pandas as pd
import streamlit as st

from dashboard import data, ui
from monitoring import kpis

source = ui.inputs()
with ui.page(
    "Quality and staffing",
    "What patients say (likelihood to recommend, 0-10, and the net promoter score), how the wards "
    "were staffed (registered nurses against each unit's ratio target), and which procedures "
    "bring complications.",
):
    tables = data.kpi(source)
    facility = ui.facility_filter(source)
    colours = ui.facility_colours(source)
    satisfaction, staffing = tables["satisfaction"], tables["nurse_staffing"]
    st.subheader(f"Whole period, {ui.scope(facility)}")
    ui.metric_row(
        [
            (
                "Net promoter score",
                f"{data.total(satisfaction, 'net_promoter_score', facility=facility):.0f}",
                "Percentage of 9-10 answers minus percentage of 0-6, among those who answered.",
            ),
            (
                "Patients per nurse",
                f"{data.total(staffing, 'patients_per_nurse', facility=facility):.1f}",
                "Patients present per registered nurse who worked, over every shift.",
            ),
            (
                "RN hours per patient day",
                f"{data.total(staffing, 'rn_hours_per_patient_day', facility=facility):.1f}",
                "Registered-nurse hours worked per day of a patient's stay.",
            ),
            (
                "Shifts above the ratio target",
                ui.percent(data.total(staffing, "unsafe_shift_rate", facility=facility)),
                "Share of shifts whose patients per nurse exceeded the unit's target.",
            ),
            (
                "Agency share",
                ui.percent(data.total(staffing, "agency_share", facility=facility)),
                "Share of the nurses who worked that came from an agency.",
            ),
        ]
    )
    months = data.complete_months(source)
    monthly = pd.concat([kpis.by_month(satisfaction, months, facility=name) for name in [facility]])
    ui.trend(monthly, "net_promoter_score", "Net promoter score by month of discharge",
             "NPS", colours)  # fmt: skip
    monthly = kpis.by_month(staffing, months, facility=facility)
    ui.trend(monthly, "unsafe_shift_rate", "Shifts above the ratio target, by month",
             "share of shifts", colours, ".0%")  # fmt: skip

    units = staffing[
        (staffing["facility"] == facility)
        & (staffing["unit"] != kpis.TOTAL)
        & (staffing["month"] == kpis.TOTAL)
    ]
    scores = satisfaction[
        (satisfaction["facility"] == facility)
        & (satisfaction["unit"] != kpis.TOTAL)
        & (satisfaction["month"] == kpis.TOTAL)
    ].set_index("unit")
    st.subheader("By unit")
    st.dataframe(
        pd.DataFrame(
            {
                "unit": units["unit"],
                "patient days": units["patient_days"],
                "patients per nurse": units["patients_per_nurse"],
                "RN hours per patient day": units["rn_hours_per_patient_day"],
                "shifts above target": units["unsafe_shift_rate"],
                "overtime": units["overtime_share"],
                "agency": units["agency_share"],
                "nursing cost per patient day": units["nursing_cost_per_patient_day_usd"],
                "net promoter score": units["unit"].map(scores["net_promoter_score"]),
            }
        ).style.format(
            {
                "patient days": "{:,.0f}",
                "patients per nurse": "{:.1f}",
                "RN hours per patient day": "{:.1f}",
                "shifts above target": "{:.1%}",
                "overtime": "{:.1%}",
                "agency": "{:.1%}",
                "nursing cost per patient day": "${:,.0f}",
                "net promoter score": "{:.0f}",
            },
            na_rep="-",
        ),
        hide_index=True,
    )
    complications = tables["complications"]
    procedures = complications[(complications["facility"] == facility)]
    st.subheader("Complications by procedure")
    st.dataframe(procedures.drop(columns=["facility"]), hide_index=True)
