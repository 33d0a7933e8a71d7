"""Capacity: each unit's census forecast against what happened, the days ahead, and the nurse
staffing plans (made from the forecast) against the hospital's own roster."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import data, ui

source = ui.inputs()
with ui.page(
    "Capacity and staffing",
    "The daily census of each unit forecast a week ahead against the census that happened (the "
    "band holds 80% of outcomes), the next two weeks' forecast, and the nurse staffing plans made "
    "from the forecast each Monday, worked in the world against the hospital's own roster.",
):
    names = data.facilities(source)
    tables = data.operations(source)
    facility = st.sidebar.selectbox("Facility", names, key="capacity_facility")
    facility_id = names.index(facility) + 1
    judged = tables["evaluation"].set_index("facility").loc[str(facility_id)]
    st.subheader(f"Plans against the roster, {facility}")
    ui.metric_row(
        [
            (
                "Unsafe shifts, roster",
                f"{judged['roster_unsafe_shifts']:,.0f}",
                "Shifts whose patients per nurse exceeded the unit's ratio target, as rostered.",
            ),
            (
                "Unsafe shifts, plan",
                f"{judged['plan_unsafe_shifts']:,.0f}",
                f"The same shifts under the plans; 95% interval "
                f"{judged['plan_unsafe_shifts_low']:.0f}-{judged['plan_unsafe_shifts_high']:.0f}.",
            ),
            (
                "Cost, roster",
                ui.usd(judged["roster_cost_usd"]),
                "Nursing cost of the test weeks as rostered.",
            ),
            ("Cost, plan", ui.usd(judged["plan_cost_usd"]), "The plans' nursing cost, on average."),
            (
                "Deteriorations avoided",
                f"{judged['events_avoided']:.1f}",
                f"From the world's truth; 95% interval {judged['events_avoided_low']:.1f} to "
                f"{judged['events_avoided_high']:.1f}.",
            ),
        ]
    )
    backtest = tables["backtest"]
    mine = backtest[backtest["facility_id"] == facility_id]
    unit = st.sidebar.selectbox("Unit", sorted(mine["unit"].unique()), key="capacity_unit")
    week = mine[(mine["unit"] == unit) & (mine["horizon"] == 7)].sort_values("date")
    figure = go.Figure(
        [
            go.Scatter(x=week["date"], y=week["high_80%"], line={"width": 0}, showlegend=False),
            go.Scatter(
                x=week["date"], y=week["low_80%"], fill="tonexty", line={"width": 0},
                name="80% interval",
            ),
            go.Scatter(x=week["date"], y=week["mean"], name="forecast a week ahead"),
            go.Scatter(x=week["date"], y=week["actual"], name="census", mode="markers"),
        ]
    )  # fmt: skip
    ui.styled(figure, f"{unit}: the census forecast a week ahead", "day", "patients (daily mean)")
    ahead = tables["forecast"]
    ahead = ahead[(ahead["facility_id"] == facility_id) & (ahead["unit"] == unit)]
    figure = go.Figure(
        [
            go.Scatter(x=ahead["date"], y=ahead["high_95%"], line={"width": 0}, showlegend=False),
            go.Scatter(
                x=ahead["date"], y=ahead["low_95%"], fill="tonexty", line={"width": 0},
                name="95% interval",
            ),
            go.Scatter(x=ahead["date"], y=ahead["high_80%"], line={"width": 0}, showlegend=False),
            go.Scatter(
                x=ahead["date"], y=ahead["low_80%"], fill="tonexty", line={"width": 0},
                name="80% interval",
            ),
            go.Scatter(x=ahead["date"], y=ahead["mean"], name="forecast"),
        ]
    )  # fmt: skip
    ui.styled(figure, f"{unit}: the next two weeks", "day", "patients (daily mean)")

    plans = tables["plans"]
    plans = plans[plans["facility_id"] == facility_id]
    last_week = plans[
        plans["shift_start"] >= plans["shift_start"].max().normalize() - pd.Timedelta(days=6)
    ]
    st.subheader(f"The plan for the week of {last_week['shift_start'].min():%d %b %Y}")
    st.dataframe(
        last_week.pivot_table(
            index="unit", columns="shift_start", values="planned_rn", aggfunc="sum"
        ).rename(columns=lambda start: f"{start:%a %d} {'day' if start.hour < 12 else 'night'}"),
        width="stretch",
    )
    st.caption(
        "Registered nurses planned per unit and shift (staff, floats in, overtime and agency), "
        "for the forecast census at the configured quantile and the units' ratio targets."
    )
