"""Emergency department: arrivals against the patients seen and the providers on duty by hour,
leaving without being seen against the day's wait, and the waits and boarding by triage level."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import data, ui
from monitoring import kpis

# What a provider sees in an hour: the mean over 184 US EDs (Oskvarek et al., Ann Emerg Med 2025).
PUBLISHED_PATIENTS_PER_PROVIDER_HOUR = 1.94
WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

source = ui.inputs()
with ui.page(
    "Emergency department",
    "When patients arrive and when they are seen, how long they wait for a provider and, once "
    "admitted, for a ward bed (boarding), by triage level (ESI 1 most urgent), and how many leave "
    "without being seen.",
):
    tables = data.kpi(source)
    facility = ui.facility_filter(source)
    flow = tables["ed_flow"]
    st.subheader(f"Whole period, {ui.scope(facility)}")
    ui.metric_row(
        [
            (
                "Visits",
                f"{data.total(flow, 'visits', facility=facility):,.0f}",
                "ED visits, admitted or not.",
            ),
            (
                "Door to provider, median",
                f"{data.total(flow, 'provider_median_minutes', facility=facility):.0f} min",
                "Minutes from arrival to the first provider, patients seen.",
            ),
            (
                "Boarding, median",
                f"{data.total(flow, 'boarding_median_hours', facility=facility):.1f} h",
                "Hours from the decision to admit to leaving the ED for a ward bed.",
            ),
            (
                "Left without being seen",
                ui.percent(data.total(flow, "left_without_being_seen_rate", facility=facility)),
                "Share of visits that left before a provider saw them.",
            ),
            (
                "Arrivals per provider-hour",
                f"{data.total(tables['ed_arrivals'], 'arrivals_per_provider_hour', facility=facility):.2f}",  # noqa: E501
                "Arrivals over the hours of the providers on duty (a provider sees about "
                f"{PUBLISHED_PATIENTS_PER_PROVIDER_HOUR} patients an hour).",
            ),
        ]
    )

    arrivals = kpis.rows(tables["ed_arrivals"], facility=facility)
    by_hour = arrivals[(arrivals["weekday"] == kpis.TOTAL) & (arrivals["hour"] != kpis.TOTAL)]
    by_hour = by_hour.assign(hour=by_hour["hour"].astype(int)).sort_values("hour")
    figure = go.Figure(
        [
            go.Bar(x=by_hour["hour"], y=by_hour["arrivals_per_day"], name="arrivals"),
            go.Scatter(x=by_hour["hour"], y=by_hour["seen_per_day"], name="seen by a provider"),
        ]
    )
    ui.styled(
        figure,
        "Arrivals and patients seen by hour (where arrivals outrun them, the queue grows)",
        "hour of the day",
        "patients per day, on average",
    )
    figure = go.Figure(
        [
            go.Bar(x=by_hour["hour"], y=by_hour["arrivals_per_provider_hour"], name="arrivals"),
            go.Scatter(
                x=by_hour["hour"],
                y=[PUBLISHED_PATIENTS_PER_PROVIDER_HOUR] * len(by_hour),
                name="what a provider sees (US mean)",
                mode="lines",
            ),
        ]
    )
    ui.styled(
        figure,
        "Arrivals per provider on duty by hour (above the line, the schedule falls behind)",
        "hour of the day",
        "arrivals per provider-hour",
    )
    by_weekday = arrivals[(arrivals["hour"] == kpis.TOTAL) & (arrivals["weekday"] != kpis.TOTAL)]
    by_weekday = by_weekday.assign(
        day=by_weekday["weekday"].astype(int).map(dict(enumerate(WEEKDAYS)))
    )
    figure = go.Figure(go.Bar(x=by_weekday["day"], y=by_weekday["arrivals_per_day"]))
    ui.styled(figure, "Arrivals by day of the week", "day", "arrivals per day, on average")

    days = tables["ed_days"]
    days = days[days["facility"] == facility]
    figure = go.Figure(
        go.Scatter(
            x=days["wait_median_minutes"],
            y=days["left_without_being_seen_rate"],
            mode="markers",
            text=days["day"],
            marker={"size": 5, "opacity": 0.5},
        )
    )
    ui.styled(
        figure,
        "Leaving without being seen against the wait, one point a day",
        "median minutes from arrival to a provider that day",
        "share who left without being seen",
        y_format=".0%",
    )

    levels = flow[(flow["facility"] == facility) & (flow["esi_level"] != kpis.TOTAL)]
    st.subheader("By triage level")
    st.dataframe(
        pd.DataFrame(
            {
                "ESI level": levels["esi_level"],
                "visits": levels["visits"].astype(int),
                "to triage, median (min)": levels["triage_median_minutes"],
                "to provider, median (min)": levels["provider_median_minutes"],
                "in the ED, median (min)": levels["departure_median_minutes"],
                "admitted": levels["admitted_rate"],
                "left without being seen": levels["left_without_being_seen_rate"],
                "boarding, median (h)": levels["boarding_median_hours"],
                "boarding, 90th percentile (h)": levels["boarding_p90_hours"],
            }
        ).style.format(
            {
                "to triage, median (min)": "{:.0f}",
                "to provider, median (min)": "{:.0f}",
                "in the ED, median (min)": "{:.0f}",
                "admitted": "{:.1%}",
                "left without being seen": "{:.1%}",
                "boarding, median (h)": "{:.1f}",
                "boarding, 90th percentile (h)": "{:.1f}",
            },
            na_rep="-",
        ),
        hide_index=True,
    )
