"""Patient journeys: the way in, the ward unit, the ICU, the destination and a readmission within
30 days, as a flow between stages and as the commonest paths."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import data, ui
from monitoring import kpis
from operations import journeys

source = ui.inputs()
with ui.page(
    "Patient journeys",
    "How patients come in (through the emergency department, by referral, transferred in or for "
    "planned care), which ward unit nurses them, whether they pass through the ICU, where they go "
    "at discharge and whether they come back unplanned within 30 days (stays with 30 days of "
    "follow-up; deaths and transfers out have no readmission stage).",
):
    every = data.journey_stages(source)
    facility = ui.facility_filter(source)
    by_stay = every if facility == kpis.TOTAL else every[every["facility"] == facility]
    index_stays = by_stay[by_stay["readmission"] != ""]
    readmitted = (index_stays["readmission"] != "not readmitted").mean()
    st.subheader(f"Stays with 30 days of follow-up, {ui.scope(facility)}")
    ui.metric_row(
        [
            (
                "Stays",
                f"{len(by_stay):,}",
                "Stays whose 30 days after discharge are in the records.",
            ),
            (
                "Through the ICU",
                ui.percent((by_stay["icu"] == "ICU").mean()),
                "Admitted to the ICU, or transferred there after a deterioration.",
            ),
            (
                "Readmitted within 30 days",
                ui.percent(readmitted),
                "Unplanned readmissions of the stays discharged alive and not transferred out.",
            ),
        ]
    )
    flows = journeys.links(by_stay)
    nodes = pd.Index(pd.unique(pd.concat([flows["source"], flows["target"]])))
    figure = go.Figure(
        go.Sankey(
            node={"label": [name.split(": ", 1)[1] for name in nodes], "pad": 12},
            link={
                "source": nodes.get_indexer(flows["source"]),
                "target": nodes.get_indexer(flows["target"]),
                "value": flows["stays"],
            },
        )
    )
    figure.update_layout(height=560, margin={"t": 40, "b": 20, "l": 20, "r": 20})
    figure.update_layout(title="Way in, ward unit, ICU, destination, readmission (stays)")
    st.plotly_chart(figure, width="stretch")
    st.subheader("The commonest paths")
    paths = journeys.paths(by_stay).head(15)
    st.dataframe(
        paths.rename(
            columns={"ward_days": "ward days, mean", "icu_days": "ICU days, mean"}
        ).style.format(
            {"share": "{:.1%}", "ward days, mean": "{:.1f}", "ICU days, mean": "{:.1f}"}
        ),
        hide_index=True,
    )
