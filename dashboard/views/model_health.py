"""Model health: the latest drift and performance verdicts, and the champions' test metrics
against their clinical baselines and the generator's ceiling."""

import pandas as pd
import plotly.express as px
import streamlit as st
import streamlit.components.v1 as components

import registry
from dashboard import data, ui
from features.dictionary import baseline_name

source = ui.inputs()


def _figure(summary: dict, key: str) -> str:
    """A monitoring summary's metric value, in its task's unit."""
    unit = source.settings().tasks[summary["task"]].unit
    return ui.figure(summary[key], summary["metric"], unit)


with ui.page(
    "Model health",
    "What the latest `make monitor` found for each champion (Evidently drift and performance "
    "reports), and how each champion did on its test period when `make train` chose it.",
):
    st.subheader("Champions on their test period")
    metrics = data.champion_metrics(source, data.registry_version(source))
    shown = pd.DataFrame(
        {
            "task": metrics["title"],
            "model": metrics["model"],
            "metric": metrics["metric"],
            "champion (95% CI)": [
                f"{ui.figure(r.champion, r.metric, r.unit)} "
                f"({ui.figure(r.champion_low, r.metric, r.unit)} to "
                f"{ui.figure(r.champion_high, r.metric, r.unit)})"
                for r in metrics.itertuples()
            ],
            "clinical baselines": [
                ", ".join(
                    f"{baseline_name(b)} {ui.figure(v, r.metric, r.unit)}"
                    for b, v in r.baselines.items()
                )
                for r in metrics.itertuples()
            ],
            "ceiling (oracle)": [
                ui.figure(r.ceiling, r.metric, r.unit) for r in metrics.itertuples()
            ],
            "share of the ceiling's lift (95% CI)": [
                ""
                if pd.isna(r.ceiling_share_low)
                else f"{r.ceiling_share:.0%} ({r.ceiling_share_low:.0%} to "
                f"{r.ceiling_share_high:.0%})"
                for r in metrics.itertuples()
            ],
        }
    )
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "Champion: test metric with its bootstrap 95% interval. Baselines: the clinical scores or "
        "diagnosis-group means on the same rows. Ceiling: the generator's own risk (the oracle), "
        "the best any model could do; the share of the lift is how much of the way from chance "
        "(AUROC 0.5, R² 0) to the ceiling the champion goes."
    )
    columns = st.columns(2)
    for position, row in enumerate(metrics.to_dict("records")):
        bars = pd.DataFrame(
            {
                "model": [*map(baseline_name, row["baselines"]), "champion", "ceiling (oracle)"],
                "value": [*row["baselines"].values(), row["champion"], row["ceiling"]],
            }
        ).dropna()
        with columns[position % 2]:
            ui.styled(
                px.bar(bars, x="value", y="model", orientation="h", text_auto=".3~g"),
                f"{row['title']}: test {row['metric']}",
                row["metric"],
                "",
                height=260,
            )

    st.subheader("Validation reports")
    reports = data.validation_reports(source, registry.changed_at(source.settings()))
    if not reports:
        st.info(
            "No TRIPOD+AI reports yet: `make decisions` validates the champions on a prospective "
            "period and writes them.",
            icon=":material/info:",
        )
    for task, files in reports.items():
        title = source.settings().tasks[task].title
        with st.expander(f"{title}: model facts"):
            st.markdown(files["model_facts.md"])
        left, right = st.columns(2)
        for column, name, label in (
            (left, "tripod_ai.html", "TRIPOD+AI report"),
            (right, "model_facts.html", "model-facts label"),
        ):
            column.download_button(
                f"⬇ {title}: {label}",
                files[name],
                file_name=f"{task}-{name}",
                mime="text/html",
                key=f"report-{task}-{name}",
            )

    st.subheader("Latest monitoring run")
    run = data.latest_monitor_run(source)
    summaries = data.drift_summaries(run)
    headline = (run / "summary.md").read_text().splitlines()
    current = next((line for line in headline if line.startswith("Reference:")), "")
    st.markdown(f"Run `{run.name}` in `{run}`. {current}")
    for column, summary in zip(st.columns(len(summaries)), summaries, strict=True):
        column.metric(
            summary["task"],
            summary["verdict"].upper(),
            help="; ".join(summary["reasons"]) or "within every threshold",
            border=True,
        )
    verdicts = pd.DataFrame(
        {
            "task": [s["task"] for s in summaries],
            "model": [s["model"] for s in summaries],
            "verdict": [s["verdict"].upper() for s in summaries],
            "drifted features": [
                f"{len(s['drifted_features'])} ({s['drift_share']:.0%})" for s in summaries
            ],
            "prediction drift": ["yes" if s["prediction_drift"] else "no" for s in summaries],
            "main metric, reference → current": [
                f"{s['metric']} {_figure(s, 'reference_value')} → {_figure(s, 'current_value')}"
                if s["current_value"] is not None and s["reference_value"] is not None
                else f"{s['metric']}: too few labels ({s['labelled_rows']} rows)"
                for s in summaries
            ],
            "why": ["; ".join(s["reasons"]) or "within every threshold" for s in summaries],
        }
    )
    st.dataframe(verdicts, hide_index=True, width="stretch")

    st.markdown(
        "**Full reports.** `make monitor-ui` serves every run's reports at "
        "[http://127.0.0.1:8000](http://127.0.0.1:8000) (the Evidently UI); each run's HTML "
        f"reports are also in `{run / 'drift'}`, to download or open below."
    )
    reports = sorted((run / "drift").glob("*.html"))
    buttons = st.columns(4)
    for position, report in enumerate(reports):
        buttons[position % len(buttons)].download_button(
            f"⬇ {report.stem.replace('.', ' ')}",
            report.read_bytes,  # read on click only: a report is a few megabytes
            file_name=f"{run.name}-{report.name}",
            mime="text/html",
            key=f"download-{report.name}",
        )
    chosen = st.selectbox(
        "Open a report here", ["(none)", *[r.stem for r in reports]], key="open-report"
    )
    if chosen != "(none)":
        components.html((run / "drift" / f"{chosen}.html").read_text(), height=900, scrolling=True)
