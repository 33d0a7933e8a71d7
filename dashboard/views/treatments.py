"""Treatments: success by protocol, naive and adjusted for severity, and complications."""

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import analysis, data, ui
from monitoring import kpis

source = ui.inputs()
with ui.page(
    "Treatments",
    "Sicker patients receive the enhanced protocol more often and older ones the conservative "
    "protocol, so the raw success rates mix the protocols' effects with the patients' severity. "
    "The adjusted rates come from a logistic regression (statsmodels) on what shows severity at "
    "admission (lactate, an unplanned admission, age, Charlson index, diagnosis group): each is "
    "the mean predicted success had every patient received that protocol.",
):
    tables = data.kpi(source)
    facility = ui.facility_filter(source)
    success = kpis.rows(tables["treatment_success"], facility=facility)
    st.subheader(f"Treatment success, {ui.scope(facility)}")
    by_protocol = tables["treatment_success"]
    protocols = sorted(p for p in by_protocol["protocol"].unique() if p != "all")
    columns = st.columns(1 + len(protocols))
    columns[0].metric(
        "All stays",
        ui.percent(success["success_rate"].iloc[0]),
        help="Share of stays whose treatment succeeded (deaths count as failures), as in the KPI "
        "table.",
        border=True,
    )
    for column, protocol in zip(columns[1:], protocols, strict=True):
        rate = data.total(by_protocol, "success_rate", facility=facility, protocol=protocol)
        column.metric(f"{protocol.capitalize()} protocol", ui.percent(rate), border=True)

    rates, effects = data.treatment_effects(source, facility, data.version(source.clean_dir))
    st.subheader("Naive and adjusted success among survivors")
    groups = list(rates["diagnosis_group"].unique())
    group = st.selectbox("Principal diagnosis group", groups, index=groups.index(analysis.ALL))
    shown = rates[rates["diagnosis_group"] == group].melt(
        ["protocol", "stays"], ["naive_rate", "adjusted_rate"], var_name="comparison",
        value_name="success_rate",
    )  # fmt: skip
    shown["comparison"] = shown["comparison"].map(
        {"naive_rate": "naive (as observed)", "adjusted_rate": "adjusted for severity"}
    )
    ui.styled(
        px.bar(
            shown,
            x="protocol",
            y="success_rate",
            color="comparison",
            barmode="group",
            hover_data=["stays"],
            text_auto=".1%",
        ),
        f"Treatment success by protocol, {group} diagnoses",
        "treatment protocol",
        "success rate (survivors)",
        ".0%",
    )
    truth = source.settings().data_gen.treatment.protocols
    table = pd.DataFrame(
        {
            "protocol": effects["protocol"],
            "naive odds ratio (95% CI)": [
                f"{np.exp(r.naive_log_odds):.2f} ({np.exp(r.naive_low):.2f}-"
                f"{np.exp(r.naive_high):.2f})"
                for r in effects.itertuples()
            ],
            "adjusted odds ratio (95% CI)": [
                f"{np.exp(r.adjusted_log_odds):.2f} ({np.exp(r.adjusted_low):.2f}-"
                f"{np.exp(r.adjusted_high):.2f})"
                for r in effects.itertuples()
            ],
            "true (generator)": [
                f"{np.exp(truth[p].true_effect_log_odds):.2f}" for p in effects["protocol"]
            ],
        }
    )
    st.markdown("**Odds ratio of success against the standard protocol** (all diagnoses)")
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(
        "The synthetic world knows each protocol's true effect (configs/data_gen.yaml, "
        "treatment.protocols): the adjusted estimate should cover it, the naive one need not."
    )
    pivot = rates.pivot_table(
        index="diagnosis_group", columns="protocol", values=["naive_rate", "adjusted_rate"]
    )
    pivot.columns = [f"{protocol}: {kind.split('_')[0]}" for kind, protocol in pivot.columns]
    pivot = pivot.sort_index(axis=1).reindex(
        [analysis.ALL, *sorted(set(pivot.index) - {analysis.ALL})]
    )
    st.markdown("**Success by diagnosis group and protocol** (survivors)")
    st.dataframe(pivot.style.format("{:.1%}"), width="stretch")

    st.subheader("Complications by procedure")
    complications = tables["complications"]
    by_procedure = complications[
        (complications["facility"] == facility) & (complications["procedure_code"] != "all")
    ].sort_values("complication_rate")
    ui.styled(
        px.bar(
            by_procedure,
            x="complication_rate",
            y="procedure",
            orientation="h",
            hover_data=["procedure_code", "stays"],
        ),
        f"Complication rate of the stays with each procedure, {ui.scope(facility)}",
        "complication rate (share of stays)",
        "procedure (ICD-10-PCS)",
        x_format=".0%",
        height=120 + 22 * len(by_procedure),
    )
