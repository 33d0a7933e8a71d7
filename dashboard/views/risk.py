"""Risk: the current inpatients most at risk, one list per risk task (readmission, deterioration,
mortality, ... as declared in configs/tasks/)."""

import pandas as pd
import streamlit as st

from dashboard import data, ui

# How each case type sees a current inpatient.
AS_SEEN = {
    "admission": "Each current inpatient as in the first hours of the stay.",
    "discharge": "Each current inpatient scored as if discharged home now, with what is recorded "
    "so far.",
    "ward": "Ward inpatients without an ICU transfer or rapid response yet, at their latest "
    "vitals.",
}

source = ui.inputs()
with ui.page(
    "Current high-risk inpatients",
    "The patients in hospital at the end of the records, scored by the champion models; each "
    "patient's top reasons are the largest SHAP contributions (↑ raises the risk, ↓ lowers it). "
    "Patients and stays are shown by their pseudonyms only.",
):
    settings = source.settings()
    encounters = data.clean(source)["encounters"]
    at = encounters["admitted_at"].max()
    lists = data.risk_lists(
        source, at, data.version(source.clean_dir), data.registry_version(source)
    )
    st.markdown(f"As of **{at:%d %b %Y %H:%M}** (the last admission in the records).")
    every = pd.concat(lists.values())
    facilities = st.sidebar.multiselect("Facility", sorted(every["facility"].unique()))
    units = st.sidebar.multiselect("Unit", sorted(every["unit"].unique()))
    high_only = st.sidebar.toggle("High-risk band only", value=True)
    rows = settings.dashboard.risk_list_rows
    for task, table in lists.items():
        declared = settings.tasks[task]
        if facilities:
            table = table[table["facility"].isin(facilities)]
        if units:
            table = table[table["unit"].isin(units)]
        high = table[table["band"] == "high"]
        high_bound = declared.risk_bands[1]
        st.subheader(declared.title)
        st.caption(
            f"{AS_SEEN[declared.case]} High risk: above {high_bound:.0%} "
            f"(configs/tasks/{task}.yaml)."
        )
        left, right = st.columns(2)
        left.metric("Inpatients scored", f"{len(table):,}", border=True)
        right.metric("High risk", f"{len(high):,}", border=True)
        shown = (high if high_only else table).head(rows)
        if shown.empty:
            st.info("No inpatient in the high-risk band for this selection.")
            continue
        st.dataframe(
            shown,
            hide_index=True,
            width="stretch",
            column_config={
                "risk": st.column_config.ProgressColumn(
                    "risk", format="percent", min_value=0.0, max_value=1.0
                ),
                "days in hospital": st.column_config.NumberColumn(format="%.1f"),
                "top reasons": st.column_config.TextColumn(width="large"),
            },
        )
