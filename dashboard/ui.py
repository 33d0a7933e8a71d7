"""What every page shares: where the data is, the friendly stop when an input is missing, the
facility filter, number formats and Plotly figures with consistent facility colours."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard import data
from monitoring import kpis

ALL_FACILITIES = "All facilities"
SYSTEM_COLOUR = "#444444"
# Colour-blind-safe, one per facility in the order of their identifiers, on every page.
PALETTE = px.colors.qualitative.Safe


def inputs() -> data.Inputs:
    """The data folder, profile and overrides given after ``streamlit run dashboard/app.py --``."""
    return data.Inputs.from_args(sys.argv[1:])


@contextmanager
def page(title: str, purpose: str) -> Iterator[None]:
    """A page's title and purpose; a missing input ends the page with what to run, not a
    traceback."""
    st.title(title)
    st.caption(purpose)
    try:
        yield
    except data.MissingInputError as missing:
        st.info(str(missing), icon=":material/info:")


def facility_filter(source: data.Inputs, key: str = "facility") -> str:
    """The sidebar's facility choice: a facility's name, or ``all`` for the whole system."""
    names = data.facilities(source)
    choice = st.sidebar.selectbox("Facility", [ALL_FACILITIES, *names], key=key)
    return kpis.TOTAL if choice == ALL_FACILITIES else choice


def facility_colours(source: data.Inputs) -> dict[str, str]:
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(data.facilities(source))}
    return colours | {kpis.TOTAL: SYSTEM_COLOUR, ALL_FACILITIES: SYSTEM_COLOUR}


def metric_row(figures: list[tuple[str, str, str]]) -> None:
    """One row of bordered metrics: (label, value, what it means) each."""
    for column, (label, value, meaning) in zip(st.columns(len(figures)), figures, strict=True):
        column.metric(label, value, help=meaning, border=True)


def scope(facility: str) -> str:
    return ALL_FACILITIES.lower() if facility == kpis.TOTAL else facility


def percent(value: float, digits: int = 1) -> str:
    return "n/a" if pd.isna(value) else f"{value:.{digits}%}"


def usd(value: float) -> str:
    return "n/a" if pd.isna(value) else f"${value:,.0f}"


def figure(value: float, metric: str, unit: str) -> str:
    """A model metric as a reader wants it: scores to three decimals, errors in their unit (USD
    whole, days to two decimals), nothing when there is no figure."""
    if pd.isna(value):
        return "n/a"
    if metric in ("auroc", "auprc", "brier", "r2"):
        return f"{value:.3f}"
    return usd(value) if unit == "USD" else f"{value:,.2f} {unit}"


def styled(
    figure: go.Figure,
    title: str,
    x_title: str,
    y_title: str,
    y_format: str = "",
    x_format: str = "",
    height: int = 400,
) -> None:
    """Titles and axis labels (with units) on every chart, the legend below it, then show it."""
    figure.update_layout(
        title=title,
        xaxis_title=x_title,
        yaxis_title=y_title,
        legend={"title_text": "", "orientation": "h", "yanchor": "top", "y": -0.3, "x": 0},
        margin={"t": 60, "b": 40, "l": 40, "r": 20},
        height=height,
    )
    if y_format:
        figure.update_yaxes(tickformat=y_format)
    if x_format:
        figure.update_xaxes(tickformat=x_format)
    st.plotly_chart(figure, width="stretch")


def trend(
    monthly: pd.DataFrame,
    column: str,
    title: str,
    y_title: str,
    colours: dict[str, str],
    y_format: str = "",
) -> None:
    """A KPI by month, one line per facility (``facility`` column) in its colour."""
    figure = px.line(
        monthly.replace({"facility": {kpis.TOTAL: ALL_FACILITIES}}),
        x="month",
        y=column,
        color="facility",
        color_discrete_map=colours,
        markers=True,
    )
    styled(figure, title, "month", y_title, y_format)
