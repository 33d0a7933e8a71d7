"""Capacity: each unit's census forecast against what happened, the days ahead, and the nurse
staffing plans (made from the forecast) against the hospital's own roster."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import data, ui
from features.census import SHIFT_HOURS
from operations import staffing

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

    roster, by_shift = data.shift_census(source)
    st.subheader(f"Plan the nurses of {facility}")
    last_day = by_shift["shift_start"].max().normalize()
    config = source.settings().operations
    left, right = st.columns(2)
    start = left.date_input(
        "First day of the plan",
        value=last_day,
        min_value=roster["shift_start"].min().normalize()
        + pd.Timedelta(days=config.forecast.warmup_days + 7 * config.staffing.history_weeks),
        max_value=last_day,
        key="capacity_plan_start",
        help="The plan covers this day and the next "
        f"{config.forecast.horizon_days - 1}, from the census recorded before it.",
    )
    quantile = right.slider(
        "Plan for this quantile of the forecast census",
        min_value=0.4, max_value=0.95, value=config.staffing.census_quantile, step=0.05,
        key="capacity_plan_quantile",
        help="Higher: fewer shifts beyond the ratio targets, at a higher cost.",
    )  # fmt: skip
    try:
        plan = data.staffing_plan(
            source, data.version(source.clean_dir), facility_id, pd.Timestamp(start), quantile
        )
    except staffing.PlanError as error:
        st.error(f"No plan: {error}.")
        st.stop()
    nurses = plan.nurses
    rates = config.staffing.hourly_usd
    ui.metric_row(
        [
            ("Plan cost", ui.usd(plan.cost_usd), "Staff, floats, overtime and agency booked."),
            (
                "Usual schedule's cost",
                ui.usd(SHIFT_HOURS * rates["staff"] * nurses["usual_rn"].sum()),
                "The unit's usual nurses (the roster's median of recent weeks) at the staff rate.",
            ),
            (
                "Unsafe shifts expected, plan",
                f"{nurses['unsafe_chance'].sum():.1f}",
                "Shifts the forecast expects beyond the ratio target with the nurses planned "
                "(the sum of each shift's chance), before the day's sick calls.",
            ),
            (
                "Unsafe shifts expected, usual",
                f"{nurses['usual_unsafe_chance'].sum():.1f}",
                "The same with the usual schedule.",
            ),
        ]
    )
    st.dataframe(
        nurses.pivot_table(
            index="unit", columns="shift_start", values="planned_rn", aggfunc="sum"
        ).rename(columns=lambda start: f"{start:%a %d} {'day' if start.hour < 12 else 'night'}"),
        width="stretch",
    )
    st.caption(
        "Registered nurses planned per unit and shift (staff, floats in, overtime and agency) "
        "at the least cost for the chosen quantile of the forecast census at the units' ratio "
        f"targets; a mixed-integer programme solved in {plan.solve_seconds:.2f} s. "
        "How such plans fared in the world is in the figures at the top."
    )
    st.download_button(
        "Download the plan (CSV)",
        nurses.to_csv(index=False),
        file_name=f"staffing-plan-{facility_id}-{start:%Y-%m-%d}.csv",
        mime="text/csv",
    )
