"""Costs: where the money goes, and the monthly budget forecast against the actuals."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard import data, ui
from monitoring import kpis

source = ui.inputs()
with ui.page(
    "Costs",
    "Total encounter costs (USD) by principal diagnosis group, payer and facility, by month of "
    "discharge; and a forecast of the latest months' spending from the months before, against "
    "what was spent.",
):
    tables = data.kpi(source)
    costs = tables["costs"]
    facility = ui.facility_filter(source)
    colours = ui.facility_colours(source)
    config = source.settings().dashboard

    st.subheader(f"Whole period, {ui.scope(facility)}")
    figures = [
        ("Total cost", ui.usd(data.total(costs, "total_cost_usd", facility=facility)), "USD."),
        (
            "Cost per encounter",
            ui.usd(data.total(costs, "cost_per_encounter_usd", facility=facility)),
            "Mean total cost of a stay, USD.",
        ),
        (
            "Cost per patient",
            ui.usd(data.total(costs, "cost_per_patient_usd", facility=facility)),
            "Total cost over the patients with a stay, USD.",
        ),
    ]
    ui.metric_row(figures)

    stays = data.stays(source)
    if facility != kpis.TOTAL:
        stays = stays[stays["facility"] == facility]
    left, right = st.columns(2)
    with left:
        by_group = (
            stays.groupby("diagnosis_group")["total_cost_usd"]
            .agg(["mean", "sum", "size"])
            .rename(columns={"mean": "cost per encounter", "sum": "total", "size": "stays"})
            .reset_index()
            .sort_values("total")
        )
        ui.styled(
            px.bar(
                by_group,
                x="total",
                y="diagnosis_group",
                orientation="h",
                hover_data=["cost per encounter", "stays"],
            ),
            "Total cost by principal diagnosis group",
            "total cost (USD)",
            "diagnosis group",
            x_format="$,.3s",
            height=120 + 22 * len(by_group),
        )
    with right:
        payers = costs[
            (costs["payer"] != kpis.TOTAL)
            & (costs["facility"] == facility)
            & (costs["month"] == kpis.TOTAL)
        ]
        ui.styled(
            px.bar(payers, x="payer", y="cost_per_encounter_usd", hover_data=["encounters"]),
            "Cost per encounter by payer",
            "payer",
            "cost per encounter (USD)",
            "$,.0f",
        )
    by_facility = costs[
        (costs["facility"] != kpis.TOTAL)
        & (costs["payer"] == kpis.TOTAL)
        & (costs["month"] == kpis.TOTAL)
    ]
    ui.styled(
        px.bar(
            by_facility,
            x="facility",
            y="cost_per_encounter_usd",
            color="facility",
            color_discrete_map=colours,
            hover_data=["encounters", "total_cost_usd"],
        ).update_traces(showlegend=False, width=0.6),
        "Cost per encounter by facility",
        "facility",
        "cost per encounter (USD)",
        "$,.0f",
    )

    st.subheader("Monthly budget: forecast against actuals")
    monthly = data.by_month(costs, data.complete_months(source), facility=facility)
    series = monthly.set_index("month")["total_cost_usd"]
    forecast = data.budget_forecast(series, config.forecast_months, config.forecast_interval)
    ahead = forecast[forecast["forecast_month"]]
    figure = go.Figure(
        [
            go.Scatter(
                x=pd.concat([ahead["month"], ahead["month"][::-1]]),
                y=pd.concat([ahead["high"], ahead["low"][::-1]]),
                fill="toself",
                fillcolor="rgba(120,120,120,0.2)",
                line={"width": 0},
                mode="lines",
                name=f"{config.forecast_interval:.0%} prediction interval",
            ),
            go.Scatter(
                x=ahead["month"], y=ahead["forecast"], mode="lines+markers",
                line={"dash": "dash", "color": "grey"}, name="forecast",
            ),
            go.Scatter(
                x=forecast["month"], y=forecast["actual"], mode="lines+markers",
                line={"color": colours[facility]}, name="actual",
            ),
        ]
    )  # fmt: skip
    ui.styled(
        figure,
        f"Total cost by month of discharge, {ui.scope(facility)}: the last "
        f"{config.forecast_months} months forecast from the months before",
        "month of discharge",
        "total cost (USD)",
        "$,.3s",
    )
    inside = ahead["actual"].between(ahead["low"], ahead["high"])
    gap = ahead["actual"].sum() / ahead["forecast"].sum() - 1
    st.caption(
        f"Over the {len(ahead)} forecast months the actual spending was {gap:+.1%} against the "
        f"forecast, with {inside.sum()} of {len(ahead)} months inside the interval. The model "
        "(statsmodels SARIMAX): a level with an annual cycle and AR(1) errors."
    )
