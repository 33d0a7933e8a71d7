"""Finance: revenue, cost and margin by facility, payer and diagnosis group; the payer mix;
Medicare's readmission penalty; and the monthly forecast against the actuals."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboard import data, ui
from monitoring import kpis

MEASURES = {"revenue": "revenue_usd", "margin": "margin_usd", "cost": "cost_usd"}

source = ui.inputs()
with ui.page(
    "Finance",
    "What the stays earned (payments received), what they cost and the margin between, by "
    "month of discharge; the payer mix; the penalty Medicare's Hospital Readmissions Reduction "
    "Program would charge each hospital; and a forecast of the latest months from the months "
    "before, against the actuals.",
):
    tables = data.kpi(source)
    finance, costs = tables["finance"], tables["costs"]
    facility = ui.facility_filter(source)
    colours = ui.facility_colours(source)
    config = source.settings().dashboard

    st.subheader(f"Whole period, {ui.scope(facility)}")
    margin_share = data.total(finance, "margin_share", facility=facility)
    ui.metric_row(
        [
            ("Revenue", ui.usd(data.total(finance, "revenue_usd", facility=facility)),
             "What payers and patients paid for the stays, USD."),
            ("Cost", ui.usd(data.total(finance, "cost_usd", facility=facility)),
             "What the stays cost, USD."),
            ("Margin", ui.percent(margin_share),
             "Revenue less cost, over revenue (inpatient contribution)."),
            ("Revenue per stay", ui.usd(data.total(finance, "revenue_per_stay_usd",
                                                   facility=facility)), "USD."),
            ("Cost per encounter", ui.usd(data.total(costs, "cost_per_encounter_usd",
                                                     facility=facility)), "USD."),
            ("Medicare case-mix index",
             f"{data.total(finance, 'medicare_case_mix_index', facility=facility):.2f}",
             "Mean DRG weight of the Medicare stays."),
        ]
    )  # fmt: skip

    left, right = st.columns(2)
    with left:
        groups = finance[
            (finance["diagnosis_group"] != kpis.TOTAL) & (finance["facility"] == kpis.TOTAL)
        ].sort_values("margin_usd")
        ui.styled(
            px.bar(
                groups,
                x="margin_usd",
                y="diagnosis_group",
                orientation="h",
                hover_data=["revenue_usd", "cost_usd", "stays", "margin_share"],
            ),
            "Margin by principal diagnosis group, all facilities",
            "margin (USD)",
            "diagnosis group",
            x_format="$,.3s",
            height=120 + 22 * len(groups),
        )
    with right:
        payers = finance[
            (finance["payer"] != kpis.TOTAL)
            & (finance["facility"] == facility)
            & (finance["month"] == kpis.TOTAL)
        ]
        per_stay = payers.assign(cost_per_stay_usd=payers["cost_usd"] / payers["stays"]).melt(
            id_vars=["payer", "stays", "margin_share"],
            value_vars=["revenue_per_stay_usd", "cost_per_stay_usd"],
            var_name="figure",
            value_name="usd",
        )
        per_stay["figure"] = per_stay["figure"].map(
            {"revenue_per_stay_usd": "revenue", "cost_per_stay_usd": "cost"}
        )
        ui.styled(
            px.bar(
                per_stay,
                x="payer",
                y="usd",
                color="figure",
                barmode="group",
                hover_data=["stays", "margin_share"],
            ),
            f"Revenue and cost per stay by payer, {ui.scope(facility)}",
            "payer",
            "USD per stay",
            "$,.0f",
        )

    st.subheader("Payer mix")
    mix = tables["payer_mix"].replace({"facility": {kpis.TOTAL: ui.ALL_FACILITIES}})
    ui.styled(
        px.bar(
            mix,
            x="share_of_stays",
            y="facility",
            color="payer",
            orientation="h",
            hover_data=["stays", "share_of_revenue"],
        ),
        "Share of stays by payer",
        "share of stays",
        "",
        x_format=".0%",
        height=160 + 30 * mix["facility"].nunique(),
    )

    st.subheader("Medicare's readmission penalty (HRRP)")
    penalty = data.readmission_penalty(source)
    counted = penalty.ratios[penalty.ratios["counted"]]
    if facility != kpis.TOTAL:
        counted = counted[counted["facility"] == facility]
    figure = px.scatter(
        counted,
        x="condition",
        y="excess_ratio",
        color="facility",
        color_discrete_map=colours,
        error_y=counted["excess_ratio_high"] - counted["excess_ratio"],
        error_y_minus=counted["excess_ratio"] - counted["excess_ratio_low"],
        hover_data=["index_stays", "readmissions", "observed_rate"],
    )
    figure.add_hline(y=1.0, line_dash="dot", line_color="grey")
    rules = source.settings().finance.readmission_penalty
    ui.styled(
        figure,
        f"Excess readmission ratio by condition ({rules.coverage:.0%} interval; above 1: more "
        "readmissions than the average hospital with the same patients)",
        "condition",
        "predicted / expected readmissions",
    )
    shown = penalty.penalties
    if facility != kpis.TOTAL:
        shown = shown[shown["facility"] == facility]
    st.dataframe(
        pd.DataFrame(
            {
                "facility": shown["facility"],
                "conditions counted": shown["conditions_counted"],
                "penalty": shown["penalty_share"].map(lambda v: ui.percent(v, 2)),
                "interval": [
                    "exempt (critical access)" if not row.in_program
                    else f"{row.penalty_share_low:.2%} to {row.penalty_share_high:.2%}"
                    for row in shown.itertuples()
                ],
                "chance of a penalty": shown["penalised_probability"].map(ui.percent),
                "penalty (USD)": shown["penalty_usd"].map(ui.usd),
            }
        ),
        hide_index=True,
    )  # fmt: skip
    st.caption(
        f"Index stays of Medicare patients aged {rules.min_age_years} and over; a condition "
        f"counts with at least {rules.min_index_stays} of them. The penalty is the payments for "
        "each condition times its ratio's excess over 1, over all Medicare payments, capped at "
        f"{rules.penalty_cap:.0%}: a ratio below 1 earns nothing back, so noise alone makes a "
        "penalty likely. README, Finance, says where this departs from CMS."
    )

    st.subheader("Monthly forecast against actuals")
    measure = st.radio("Measure", list(MEASURES), horizontal=True, key="finance_measure")
    column = MEASURES[measure]
    monthly = kpis.by_month(finance, data.complete_months(source), facility=facility)
    series = monthly.set_index("month")[column]
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
        f"{measure.capitalize()} by month of discharge, {ui.scope(facility)}: the last "
        f"{config.forecast_months} months forecast from the months before",
        "month of discharge",
        f"{measure} (USD)",
        "$,.3s",
    )
    inside = ahead["actual"].between(ahead["low"], ahead["high"])
    error = (ahead["forecast"] - ahead["actual"]).abs().mean()
    st.caption(
        f"Over the {len(ahead)} forecast months the forecast was off by ${error:,.0f} a month on "
        f"average, with {inside.sum()} of {len(ahead)} months inside the interval. The model "
        "(statsmodels SARIMAX): a level with an annual cycle and AR(1) errors; `make finance` "
        "backtests it from every month of the records' second year against seasonal-naive."
    )
    backtest = data.finance_backtest(source)
    if backtest is not None:
        scope = facility if facility != kpis.TOTAL else "all"
        rows = backtest[(backtest["facility"] == scope) & (backtest["measure"] == column)]
        st.dataframe(
            pd.DataFrame(
                {
                    "months ahead": rows["months_ahead"],
                    "forecasts": rows["forecasts"],
                    "mean absolute error": rows["mae_usd"].map(ui.usd),
                    "seasonal-naive": rows["seasonal_naive_mae_usd"].map(ui.usd),
                    "ratio": rows["mae_ratio"].map("{:.2f}".format),
                    "interval coverage": rows["coverage"].map(ui.percent),
                }
            ),
            hide_index=True,
        )
