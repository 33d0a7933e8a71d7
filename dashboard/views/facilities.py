"""Facilities: bed use and its peaks, ED waits, and risk-adjusted mortality in a funnel plot."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import analysis, data, ui
from monitoring import kpis

source = ui.inputs()
with ui.page(
    "Facilities",
    "Bed utilisation (occupied over staffed bed-days), the highest midnight census of each month "
    "over staffed beds, emergency department waits, and in-hospital mortality against what each "
    "facility's case mix predicts.",
):
    tables = data.kpi(source)
    facility = ui.facility_filter(source)
    colours = ui.facility_colours(source)
    months = data.complete_months(source)
    names = data.facilities(source)
    beds = data.clean(source)["facilities"].set_index("name")

    mortality = kpis.rows(tables["mortality"], facility=facility).iloc[0]
    st.subheader(f"Whole period, {ui.scope(facility)}")
    figures = [
        (
            "Bed utilisation",
            ui.percent(data.total(tables["bed_occupancy"], "utilisation", facility=facility)),
            "Occupied bed-days over staffed bed-days.",
        ),
        (
            "Highest occupancy",
            ui.percent(data.total(tables["bed_occupancy"], "peak_occupancy", facility=facility), 0),
            "The highest midnight census over staffed beds (of one facility, on one night).",
        ),
        (
            "ED wait, median",
            f"{data.total(tables['ed_waits'], 'wait_median_minutes', facility=facility):.0f} min",
            "Minutes from arrival to the first provider, patients seen.",
        ),
        (
            "Mortality O/E",
            f"{mortality['observed_to_expected']:.2f}",
            f"95% interval {mortality['observed_to_expected_low']:.2f}-"
            f"{mortality['observed_to_expected_high']:.2f}.",
        ),
    ]
    ui.metric_row(figures)

    overview = []
    for name in names:
        mortality = kpis.rows(tables["mortality"], facility=name).iloc[0]
        overview.append(
            {
                "facility": name,
                "type": beds.loc[name, "type"],
                "staffed beds": int(beds.loc[name, "staffed_beds"]),
                "utilisation": data.total(tables["bed_occupancy"], "utilisation", facility=name),
                "peak occupancy": data.total(
                    tables["bed_occupancy"], "peak_occupancy", facility=name
                ),
                "ED wait, median (min)": data.total(
                    tables["ed_waits"], "wait_median_minutes", facility=name
                ),
                "left without being seen": data.total(
                    tables["ed_waits"], "left_without_being_seen_rate", facility=name
                ),
                "deaths": int(mortality["observed_deaths"]),
                "expected deaths": mortality["expected_deaths"],
                "mortality O/E (95% CI)": f"{mortality['observed_to_expected']:.2f} "
                f"({mortality['observed_to_expected_low']:.2f}-"
                f"{mortality['observed_to_expected_high']:.2f})",
            }
        )
    st.subheader("By facility")
    st.dataframe(
        pd.DataFrame(overview).style.format(
            {
                "utilisation": "{:.1%}",
                "peak occupancy": "{:.0%}",
                "ED wait, median (min)": "{:.0f}",
                "left without being seen": "{:.1%}",
                "expected deaths": "{:.1f}",
            }
        ),
        hide_index=True,
        width="stretch",
    )

    st.subheader("Beds")
    left, right = st.columns(2)
    by_facility = {
        name: kpis.by_month(tables["bed_occupancy"], months, facility=name) for name in names
    }
    monthly = pd.concat(by_facility.values())
    with left:
        ui.trend(monthly, "utilisation", "Bed utilisation by month", "share of staffed bed-days",
                 colours, ".0%")  # fmt: skip
    with right:
        ui.trend(monthly, "peak_occupancy", "Capacity peaks: highest midnight census of the month",
                 "share of staffed beds", colours, ".0%")  # fmt: skip
    peaks = monthly.nlargest(5, "peak_occupancy")
    st.caption(
        "Fullest months: "
        + "; ".join(
            f"{row.facility} {row.month:%b %Y} ({row.peak_occupancy:.0%}, "
            f"{row.peak_midnight_census:.0f} patients at midnight)"
            for row in peaks.itertuples()
        )
    )

    st.subheader("Emergency department")
    waits = pd.concat(kpis.by_month(tables["ed_waits"], months, facility=name) for name in names)
    left, right = st.columns(2)
    with left:
        ui.trend(waits, "wait_median_minutes", "ED arrival to provider, median by month",
                 "minutes", colours)  # fmt: skip
    with right:
        ui.trend(waits, "wait_p90_minutes", "ED arrival to provider, 90th percentile by month",
                 "minutes", colours)  # fmt: skip

    st.subheader("Risk-adjusted mortality")
    config = source.settings().dashboard
    units = tables["mortality"][
        (tables["mortality"]["facility"] != kpis.TOTAL)
        & (tables["mortality"]["month"] == kpis.TOTAL)
    ]
    reach = np.linspace(max(units["expected_deaths"].min() * 0.5, 1.0),
                        units["expected_deaths"].max() * 1.2, 200)  # fmt: skip
    figure = go.Figure()
    for coverage, dash in zip(
        sorted(config.funnel_limits), ("dash", "dot", "dashdot"), strict=False
    ):
        low, high = analysis.funnel_limits(reach, coverage)
        for bound, name in ((low, "lower"), (high, "upper")):
            figure.add_trace(
                go.Scatter(
                    x=reach, y=bound, mode="lines", line={"color": "grey", "dash": dash},
                    name=f"{coverage:.1%} limits", legendgroup=f"{coverage}",
                    showlegend=name == "upper",
                )
            )  # fmt: skip
    figure.add_hline(y=1.0, line={"color": "black", "width": 1})
    for row in units.itertuples():
        figure.add_trace(
            go.Scatter(
                x=[row.expected_deaths], y=[row.observed_to_expected], mode="markers",
                marker={"size": 12, "color": colours[row.facility]}, name=row.facility,
                hovertemplate=f"{row.facility}<br>expected %{{x:.1f}} deaths<br>observed "
                f"{row.observed_deaths:.0f}<br>O/E %{{y:.2f}}<extra></extra>",
            )
        )  # fmt: skip
    ui.styled(
        figure,
        "Funnel plot: in-hospital mortality, observed/expected, by facility",
        "expected deaths (case-mix model; larger facilities to the right)",
        "observed/expected deaths",
    )
    st.caption(
        "A facility outside the limits has more (or fewer) deaths than chance alone would give a "
        "facility of its size with the system's average outcomes for its patients."
    )
