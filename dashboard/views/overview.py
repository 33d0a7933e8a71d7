"""Overview: the headline KPIs of the whole system or of one facility, and their monthly trends."""

import streamlit as st

from dashboard import data, ui
from monitoring import kpis

source = ui.inputs()
with ui.page(
    "Hospital overview",
    "Headline indicators over the whole period of the clean tables (stays by month of discharge), "
    "the same figures as the KPI tables of `make monitor`.",
):
    tables = data.kpi(source)
    facility = ui.facility_filter(source)
    colours = ui.facility_colours(source)
    mortality = kpis.rows(tables["mortality"], facility=facility)
    headline = [
        (
            "Average length of stay",
            f"{data.total(tables['length_of_stay'], 'los_mean_days', facility=facility):.2f} days",
            "Mean days from admission to discharge.",
        ),
        (
            "30-day readmission",
            ui.percent(
                data.total(tables["readmissions"], "readmitted_30d_rate", facility=facility)
            ),
            "Unplanned readmission within 30 days of a discharge alive (transfers out excluded).",
        ),
        (
            "Treatment success",
            ui.percent(data.total(tables["treatment_success"], "success_rate", facility=facility)),
            "Share of stays whose treatment succeeded (deaths count as failures).",
        ),
        (
            "Cost per encounter",
            ui.usd(data.total(tables["costs"], "cost_per_encounter_usd", facility=facility)),
            "Mean total cost of a stay, USD.",
        ),
        (
            "Bed utilisation",
            ui.percent(data.total(tables["bed_occupancy"], "utilisation", facility=facility)),
            "Occupied bed-days over staffed bed-days.",
        ),
        (
            "Mortality O/E",
            f"{mortality['observed_to_expected'].iloc[0]:.2f}",
            f"In-hospital deaths observed over expected from the risk-adjustment model; 95% "
            f"interval {mortality['observed_to_expected_low'].iloc[0]:.2f}-"
            f"{mortality['observed_to_expected_high'].iloc[0]:.2f}; crude rate "
            f"{ui.percent(mortality['mortality_rate'].iloc[0], 2)}.",
        ),
    ]
    st.subheader(f"Whole period, {ui.scope(facility)}")
    ui.metric_row(headline[:3])
    ui.metric_row(headline[3:])

    st.subheader("By month of discharge")
    months, followed = data.complete_months(source), data.complete_months(source, 30)
    trends = [
        ("length_of_stay", "los_mean_days", "Average length of stay", "days", "", months),
        ("readmissions", "readmitted_30d_rate", "30-day readmission", "share of discharges",
         ".0%", followed),
        ("treatment_success", "success_rate", "Treatment success", "share of stays", ".0%", months),
        ("costs", "cost_per_encounter_usd", "Cost per encounter", "USD", "$,.0f", months),
        ("bed_occupancy", "utilisation", "Bed utilisation", "share of staffed beds", ".0%", months),
        ("mortality", "observed_to_expected", "Mortality, observed/expected", "O/E ratio", ".2f",
         months),
    ]  # fmt: skip
    for start in (0, 2, 4):
        for column, (table, field, title, unit, fmt, span) in zip(
            st.columns(2), trends[start : start + 2], strict=True
        ):
            with column:
                monthly = kpis.by_month(tables[table], span, facility=facility)
                ui.trend(monthly, field, title, unit, colours, fmt)
