"""Decisions: what acting on the champions is worth on a period none of them has seen, against the
world's truth: the transitional-care programme at a chosen capacity by targeting rule, the brief's
claims, the rapid-response policy, the decision curves and the prospective validation."""

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import data, ui
from decisions import programme
from features.dictionary import baseline_name

RULE_NAMES = {"champion": "readmission champion", "lace": "LACE", "random": "at random"}
SHORT_NAMES = {"champion": "champion", "lace": "LACE", "random": "at random"}  # metric labels

source = ui.inputs()
with ui.page(
    "Decisions",
    "What acting on the models would be worth, judged on a prospective period of the same world "
    "(make decisions) where the truth is known: each index stay's true risk of readmission and "
    "the programme's true effect, each deterioration that followed an alert. Money is per year.",
):
    settings = source.settings()
    care = settings.decisions.transitional_care
    summary, curves = data.validation_tables(source)  # the champions first: make train's
    inputs = data.programme_tables(source)
    grid = programme.capacity_grid(inputs.stays)

    st.subheader("Transitional care at discharge")
    capacity = st.select_slider(
        "Enrolments the programme can take a month",
        options=grid,
        value=min(grid, key=lambda c: abs(c - care.capacities_per_month[0])),
        key="capacity",
    )
    table = data.programme_at(source, capacity, data.period_version(source)).set_index("rule")
    best = table["net_usd"].idxmax()
    ui.metric_row(
        [
            (
                f"Avoided, {SHORT_NAMES[rule]}",
                f"{table.loc[rule, 'readmissions_avoided']:,.0f} "
                f"({table.loc[rule, 'readmissions_avoided_low']:,.0f} to "
                f"{table.loc[rule, 'readmissions_avoided_high']:,.0f})",
                f"Readmissions a year the programme truly avoids ({RULE_NAMES[rule]}): its "
                "effect times the enrolled patients' true risks, with the 95% interval a year "
                "would realise.",
            )
            for rule in programme.RULES
        ]
        + [
            (
                "Best net a year",
                ui.usd(table.loc[best, "net_usd"]),
                f"Targeted {RULE_NAMES[best]}: readmission costs avoided and the HRRP penalty's "
                "fall, less the programme's cost.",
            )
        ]
    )
    shown = pd.DataFrame(
        {
            "rule": [RULE_NAMES[r] for r in table.index],
            "enrolled a month": table["enrolled_per_month"].round(0),
            "readmissions avoided (95% CI)": [
                f"{r.readmissions_avoided:,.0f} ({r.readmissions_avoided_low:,.0f} to "
                f"{r.readmissions_avoided_high:,.0f})"
                for r in table.itertuples()
            ],
            "champion promised": table["promised_by_champion"].round(0),
            "reduction (95% CI)": [
                f"{r.reduction:.1%} ({r.reduction_low:.1%} to {r.reduction_high:.1%})"
                for r in table.itertuples()
            ],
            "costs avoided": table["costs_avoided_usd"].map(ui.usd),
            "penalty's fall": table["penalty_fall_usd"].map(ui.usd),
            "programme's cost": table["programme_cost_usd"].map(ui.usd),
            "net (95% CI)": [
                f"{ui.usd(r.net_usd)} ({ui.usd(r.net_usd_low)} to {ui.usd(r.net_usd_high)})"
                for r in table.itertuples()
            ],
            "payments forgone": table["payments_forgone_usd"].map(ui.usd),
        }
    )
    st.dataframe(shown, hide_index=True, width="stretch")
    st.caption(
        f"True effect {care.relative_reduction:.0%} (an enrolled patient's readmission avoided "
        f"with that probability), ${care.cost_per_patient_usd:,.0f} per enrolment, a "
        f"readmission costing {ui.usd(inputs.prices.cost_usd)} (the period's mean). "
        "'Champion promised' is what its own risks foretell. Payments forgone are the payers' "
        "saving and the hospital's lost fee-for-service revenue: shown, not netted."
    )
    left, right = st.columns(2)
    curve = inputs.curve.assign(rule=inputs.curve["rule"].map(RULE_NAMES))
    claims = settings.decisions.seed_claims
    with left:
        figure = px.line(curve, x="capacity_per_month", y="reduction", color="rule")
        figure.add_hline(y=claims.readmission_reduction, line_dash="dot")
        figure.add_vline(x=capacity, line_dash="dash", line_color="grey")
        ui.styled(figure, "Readmissions avoided, share of all", "enrolments a month",
                  "reduction", y_format=".0%")  # fmt: skip
    with right:
        figure = px.line(curve, x="capacity_per_month", y="net_usd", color="rule")
        figure.add_hline(y=claims.annual_savings_usd, line_dash="dot")
        figure.add_vline(x=capacity, line_dash="dash", line_color="grey")
        ui.styled(figure, "Net a year", "enrolments a month", "USD", y_format="$,.0f")

    st.subheader("The brief's claims")
    verdicts = programme.seed_claims(inputs.curve, claims, care.relative_reduction)
    st.dataframe(
        pd.DataFrame(
            {
                "rule": verdicts["rule"].map(RULE_NAMES),
                f"capacity for {claims.readmission_reduction:.0%} fewer": [
                    "never" if pd.isna(c) else f"{c:,.0f} a month"
                    for c in verdicts["capacity_for_reduction"]
                ],
                "best net a year": verdicts["best_net_usd"].map(ui.usd),
                "at": [f"{c:,} a month" for c in verdicts["best_net_capacity"]],
                f"reaches {ui.usd(claims.annual_savings_usd)}": verdicts["reaches_savings"].map(
                    {True: "yes", False: "no"}
                ),
                f"effect needed for {claims.readmission_reduction:.0%} there": verdicts[
                    "effect_for_reduction_at_best"
                ].map(ui.percent),
            }
        ),
        hide_index=True,
        width="stretch",
    )

    st.subheader("Rapid response on the wards")
    policies, events, nurse_shifts = data.ward_policies(source, data.period_version(source))
    policy = settings.decisions.rapid_response
    st.dataframe(
        pd.DataFrame(
            {
                "rule": policies["rule"],
                "threshold": policies["threshold"].map(lambda t: f"{t:.3g}"),
                "alerts per nurse per shift": policies["alerts_per_nurse_shift"].round(2),
                "caught early (95% CI)": [
                    f"{r.caught_share:.0%} ({r.caught_share_low:.0%} to {r.caught_share_high:.0%})"
                    for r in policies.itertuples()
                ],
                "alerts per event caught": policies["alerts_per_event_caught"].round(1),
            }
        ),
        hide_index=True,
        width="stretch",
    )
    st.caption(
        f"{events:,} deteriorations (ICU transfer, rapid response, death) and {nurse_shifts:,.0f} "
        f"ward nurse shifts. Caught early: an alert {policy.lead_hours:g} to "
        f"{policy.window_hours:g} hours before; a patient alerted twice in a shift is one alert."
    )

    st.subheader("Decision curves and the prospective validation")
    columns = st.columns(len(curves))
    for column, (task, task_curve) in zip(columns, curves.items(), strict=True):
        config = settings.tasks[task]
        names = {"model": "champion", "oracle": "oracle (truth)", "treat_all": "treat all",
                 **{b: baseline_name(b) for b in config.baselines}}  # fmt: skip
        long = task_curve.melt(
            id_vars="threshold", value_vars=list(names), var_name="rule", value_name="net_benefit"
        ).replace({"rule": names})
        with column:
            ui.styled(
                px.line(long, x="threshold", y="net_benefit", color="rule"),
                f"{config.title} ({task_curve['source'].iloc[0]})",
                "threshold probability",
                "net benefit",
                x_format=".0%",
            )
    if summary.empty:
        st.info("No prospective validation yet: run `make decisions`.", icon=":material/info:")
    else:
        st.dataframe(
            pd.DataFrame(
                {
                    "task": summary["task"],
                    "rows": summary["rows"],
                    "metric (95% CI)": [
                        f"{r.metric} {r.value:.3f} ({r.low:.3f} to {r.high:.3f})"
                        for r in summary.itertuples()
                    ],
                    "share of the ceiling (95% CI)": [
                        f"{r.ceiling_share:.0%} ({r.ceiling_share_low:.0%} to "
                        f"{r.ceiling_share_high:.0%})"
                        for r in summary.itertuples()
                    ],
                    "goal": summary["goal"].map(lambda g: "" if pd.isna(g) else f"{g:.0%}"),
                    "verdict": summary["verdict"],
                }
            ),
            hide_index=True,
            width="stretch",
        )
        st.caption(
            "A goal is met when the whole 95% interval of the share of the ceiling passes it."
        )
    st.page_link(
        "views/model_health.py",
        label="Each champion's TRIPOD+AI report and model-facts label: Model health",
        icon=":material/description:",
    )
