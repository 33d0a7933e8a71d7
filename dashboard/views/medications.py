"""Medications: drug-interaction alerts in silent mode by tier and unit, against the harm that
followed, the pairs alerted on most, polypharmacy by age band, and the efficacy study of
antibiotic timing (naive, adjusted, true)."""

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import data, ui
from features.build import AGE_BANDS
from monitoring import kpis
from pharmacy import alerts as alerting
from pharmacy import efficacy

source = ui.inputs()
with ui.page(
    "Medications",
    "Every interaction alert the knowledge base (configs/medications.yaml) would have raised on "
    "the stays' orders, each order checked against the orders active when it was placed. No "
    "prescriber saw these alerts, so what followed one is what follows an alert ignored. Harm is "
    "an adverse drug event coded on the stay and not present on admission.",
):
    tables = data.alerts(source)
    facility = ui.facility_filter(source)
    orders, raised, coded = tables.orders, tables.alerts, tables.coded
    if facility != kpis.TOTAL:
        names = data.clean(source)["facilities"].set_index("facility_id")["name"]
        mine = orders["facility_id"].map(names) == facility
        stays = set(orders.loc[mine, "encounter_key"])
        orders = orders[mine]
        raised = raised[raised["encounter_key"].isin(stays)]
        coded = coded[coded["encounter_key"].isin(stays)]
    rates = alerting.rates(orders, raised).set_index("tier")
    judged = alerting.against_harm(raised, coded).set_index("tier")
    ages = alerting.polypharmacy(orders)
    older = ages[ages["age_band"].isin([band for low, _, band in AGE_BANDS if low >= 65])]

    st.subheader(f"Orders and alerts, {ui.scope(facility)}")
    ui.metric_row(
        [
            ("Orders", f"{len(orders):,}", "Medication orders placed, home medicines included."),
            ("Alerts per 100 orders",
             f"{rates.loc[alerting.ANY_TIER, 'alerts_per_100_orders']:.2f}", "Every tier."),
            ("Interruptive per 100 orders",
             f"{rates.loc['interruptive', 'alerts_per_100_orders']:.2f}",
             "Alerts that stop the order until a prescriber answers (contraindicated pairs)."),
            ("Alerts followed by harm", ui.percent(judged.loc[alerting.ANY_TIER, "ppv"]),
             "Share of alerts whose stay then had the adverse drug event they warn of, coded."),
            ("Five or more home medicines, 65+",
             ui.percent((older["share_at_least"] * older["stays"]).sum() / older["stays"].sum()),
             "Share of stays of patients aged 65 and over with five or more home medicines "
             "continued in hospital (a medicine held on admission is not ordered)."),
        ]
    )  # fmt: skip

    left, right = st.columns(2)
    with left:
        by_unit = alerting.rates(orders, raised, by="unit")
        ui.styled(
            px.bar(
                by_unit[by_unit["tier"] != alerting.ANY_TIER],
                x="unit",
                y="alerts_per_100_orders",
                color="tier",
                barmode="stack",
                hover_data=["alerts", "orders"],
            ),
            "Alerts per 100 orders by unit and tier",
            "admitting unit",
            "alerts per 100 orders",
        )
    with right:
        shown = judged.reset_index()
        shown = shown.assign(
            interval=[
                f"{low:.1%}-{high:.1%}" if low == low else ""
                for low, high in zip(shown["ppv_low"], shown["ppv_high"], strict=True)
            ]
        )
        ui.styled(
            px.bar(
                shown,
                x="tier",
                y="ppv",
                error_y=shown["ppv_high"] - shown["ppv"],
                error_y_minus=shown["ppv"] - shown["ppv_low"],
                hover_data=["alerts", "followed_by_harm", "interval"],
                text_auto=".1%",
            ),
            "Alerts followed by the harm they warn of (95% intervals)",
            "alert tier",
            "share of alerts",
            y_format=".0%",
        )

    st.subheader("Alerts against the harm that followed")
    st.dataframe(
        judged.reset_index()[
            ["tier", "alerts", "followed_by_harm", "ppv", "events", "events_warned", "sensitivity"]
        ],
        hide_index=True,
        column_config={
            "ppv": st.column_config.NumberColumn("PPV", format="percent"),
            "sensitivity": st.column_config.NumberColumn("sensitivity", format="percent"),
            "events": st.column_config.NumberColumn("coded events"),
        },
    )

    left, right = st.columns(2)
    with left:
        st.subheader("Pairs alerted on most")
        st.dataframe(alerting.top_pairs(raised, n=15), hide_index=True)
    with right:
        ui.styled(
            px.bar(ages, x="age_band", y="share_at_least", hover_data=["stays",
                   "mean_home_medicines"], text_auto=".0%"),
            "Stays with five or more home medicines, by age band",
            "age band (years)",
            "share of stays",
            y_format=".0%",
        )  # fmt: skip

    study = data.efficacy_study(source)
    config = source.settings().medications.antibiotic_timing_study
    estimates = study.estimates.set_index("method")
    naive = estimates.loc[efficacy.NAIVE]
    st.subheader(
        f"Does a first {config.drug_class} dose within {config.bundle_hours:g} hours help?"
    )
    st.markdown(
        f"Every stay (all facilities) with a principal diagnosis of "
        f"{', '.join(g.replace('_', ' ') for g in config.diagnosis_groups)} and a given "
        f"{config.drug_class} dose, by whether the first came within {config.bundle_hours:g} hours "
        "of admission, against the risk of a deterioration event (rapid response, ICU transfer or "
        "death). Teams treat the patients who look sicker sooner, and those deteriorate more "
        "whatever the timing: the naive comparison mixes the two. The adjusted estimates "
        "(statsmodels) condition on the admission lactate, an arrival through the emergency "
        "department, age, Charlson index and the diagnosis group; they are right only if nothing "
        "else steered both the timing and the outcome, which the world's truth can check."
    )
    adjusted = estimates.loc["doubly robust (AIPW)"]
    ui.metric_row(
        [
            ("Cohort stays", f"{int(naive['stays']):,}",
             "Stays of the cohort with every covariate recorded."),
            (f"First dose within {config.bundle_hours:g} h",
             ui.percent(naive["early_stays"] / naive["stays"]), "Share of the cohort."),
            ("Naive difference", f"{naive['risk_difference']:+.1%}",
             "Risk of deterioration, early minus late, as observed."),
            ("Doubly robust difference", f"{adjusted['risk_difference']:+.1%}",
             f"95% CI {adjusted['low']:+.1%} to {adjusted['high']:+.1%}: augmented inverse "
             "probability weighting, consistent if either the propensity or the outcome model "
             "is right."),
            ("True difference",
             "-" if study.truth is None else f"{study.truth['risk_difference']:+.1%}",
             "The world's effect on the same stays (data/oracle), from make pharmacy."),
        ]
    )  # fmt: skip
    if study.truth is None:
        st.info("The world's true effect appears here after `make pharmacy` on these tables.")
    shown = estimates.reset_index()
    left, right = st.columns(2)
    with left:
        figure = px.scatter(
            shown,
            x="risk_difference",
            y="method",
            error_x=shown["high"] - shown["risk_difference"],
            error_x_minus=shown["risk_difference"] - shown["low"],
            hover_data=["risk_early", "risk_late"],
        )
        figure.add_vline(x=0.0, line_dash="dot", line_color="grey")
        if study.truth is not None:
            figure.add_vline(
                x=study.truth["risk_difference"],
                line_color="crimson",
                annotation_text="true effect",
            )
        ui.styled(
            figure,
            "Risk difference, early minus late (95% intervals)",
            "difference in the risk of a deterioration event",
            "",
            x_format=".0%",
        )
    with right:
        st.dataframe(
            pd.DataFrame(
                {
                    "covariate": study.balance["covariate"],
                    "mean, early": study.balance["mean_early"],
                    "mean, late": study.balance["mean_late"],
                    "SMD before": study.balance["smd_before"],
                    "SMD weighted": study.balance["smd_weighted"],
                }
            ),
            hide_index=True,
            column_config={
                c: st.column_config.NumberColumn(c, format="%.2f")
                for c in ("mean, early", "mean, late", "SMD before", "SMD weighted")
            },
        )
        st.caption(
            "Standardised mean differences between the arms before and after inverse "
            "probability weighting; below 0.1 is the usual sign of balance."
        )
