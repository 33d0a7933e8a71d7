"""A champion's validation report in the TRIPOD+AI layout (Collins et al., BMJ 2024;385:e078378),
and a one-page model-facts label for clinicians (after Sendak et al., npj Digit Med 2020), both
generated from what the champion's MLflow run holds and nothing else.

Every figure is read from a metric the run logged (the test split's, and the prospective
validation's that ``make decisions`` adds) or from one of its artifacts, and is followed by the
metric's name in brackets, so that a reviewer can trace it. Items the platform cannot know (who
funded the work, whether patients were involved) say so rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import markdown
import mlflow
import pandas as pd
from mlflow import MlflowClient

import registry
from configs.training import TaskConfig

BINARY_MEASURES = ["auroc", "auprc", "brier", "ece", "calibration_slope", "calibration_intercept",
                   "ici", "e90"]  # fmt: skip
CANNOT_KNOW = "*Not known to the platform: to be completed by the team that deploys the model.*"


@dataclass
class RunRecord:
    """What a champion's run holds: its task's declaration, the resolved configuration, its
    parameters, metrics and tags, and the artifacts the report reads."""

    task: str
    version: str
    run_id: str
    config: TaskConfig
    settings: dict[str, Any]
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    report: dict[str, Any]
    subgroups: pd.DataFrame
    missing: dict[str, float] | None
    prospective: dict[str, Any] | None = None
    transport: pd.DataFrame | None = None
    features: list[str] = field(default_factory=list)

    def figure(self, name: str, digits: int = 3, percent: bool = False) -> str:
        """A logged metric as the report prints it, with its name: ``0.714 [test_auroc]``;
        with its interval when the run logged ``_low`` and ``_high``."""
        if name not in self.metrics:
            return f"not logged [{name}]"
        shown = _format(self.metrics[name], digits, percent)
        low, high = self.metrics.get(f"{name}_low"), self.metrics.get(f"{name}_high")
        if low is not None and high is not None:
            shown += (
                f" (95% CI {_format(low, digits, percent)} to {_format(high, digits, percent)})"
            )
        return f"{shown} [`{name}`]"


def _format(value: float, digits: int, percent: bool) -> str:
    return f"{value:.{max(digits - 2, 0)}%}" if percent else f"{value:,.{digits}f}"


def run_record(client: MlflowClient, settings: Any, task: str) -> RunRecord:
    """Everything the report needs from a task's champion run."""
    champion = registry.champion_version(settings, task)
    run = client.get_run(champion.run_id)
    uri = f"runs:/{champion.run_id}"
    artifacts = {a.path for a in client.list_artifacts(champion.run_id, registry.PROSPECTIVE)}
    prospective_summary = f"{registry.PROSPECTIVE}/summary.json"
    transport = {a.path for a in client.list_artifacts(champion.run_id, registry.TRANSPORT)}
    transport_table = f"{registry.TRANSPORT}/facilities.json"
    signature = mlflow.models.get_model_info(registry.champion_uri(settings, task)).signature
    return RunRecord(
        task=task,
        version=str(champion.version),
        run_id=champion.run_id,
        config=settings.tasks[task],
        settings=mlflow.artifacts.load_dict(f"{uri}/config/resolved_config.json"),
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        report=mlflow.artifacts.load_dict(f"{uri}/evaluation/report.json"),
        subgroups=registry.logged_table(champion.run_id, "evaluation/subgroups.json"),
        missing=_optional_dict(f"{uri}/data/missing_shares.json"),
        prospective=(
            mlflow.artifacts.load_dict(f"{uri}/{prospective_summary}")
            if prospective_summary in artifacts
            else None
        ),
        transport=(
            registry.logged_table(champion.run_id, transport_table)
            if transport_table in transport
            else None
        ),
        features=list(signature.inputs.input_names()),
    )


def _optional_dict(uri: str) -> dict | None:
    try:
        return mlflow.artifacts.load_dict(uri)
    except (OSError, mlflow.exceptions.MlflowException):
        return None


def _item(number: str, topic: str, *lines: str) -> list[str]:
    return [f"**{number}. {topic}.** " + (lines[0] if lines else ""), *lines[1:], ""]


def tripod_report(record: RunRecord) -> str:
    """The TRIPOD+AI checklist, item by item, filled from the run (Markdown)."""
    config, s, m = record.config, record.settings, record.metrics
    world, splits = s["data_gen"], s["features"]["splits"]
    lift = "auroc" if config.kind == "binary" else "r2"
    share = registry.ceiling_fraction(lift)
    start = pd.Timestamp(world["start_date"])
    end = start + pd.DateOffset(months=world["months"])
    test_start = end - pd.DateOffset(months=splits["test_months"])
    later = record.prospective or {}
    baselines = ", ".join(
        f"`{b}` {record.figure(registry.baseline_metric(b, config.metric))}"
        for b in config.baselines
    )
    prospective = registry.prospective_metric(config.metric)
    transported = record.transport is not None
    chosen = ", ".join(
        f"{k.removeprefix('param_')}={_parameter(v)}"
        for k, v in sorted(record.params.items())
        if k.startswith("param_")
    )
    lines = [
        f"# TRIPOD+AI report: {config.title} (`{record.task}`), version {record.version}",
        "",
        f"Generated from MLflow run `{record.run_id}` "
        f"(code `{record.tags.get('git_commit', '?')}`, "
        f"data fingerprint `{record.tags.get('data_fingerprint', '?')}`). Item numbers follow the "
        "TRIPOD+AI checklist (Collins et al., BMJ 2024). Figures in brackets name the metric the "
        "run logged.",
        "",
        "## Title and abstract",
        *_item(
            "1",
            "Title",
            f"Development and evaluation of a machine-learning model "
            f"({record.params.get('family')}) predicting "
            f"{config.question[0].lower()}{config.question[1:].rstrip('.')}",
        ),
        *_item(
            "2",
            "Abstract",
            f"Test split: {config.metric.upper()} "
            f"{record.figure(registry.metric_on_test(config.metric))}; share of the "
            f"oracle's lift {record.figure(share, percent=True)}."
            + (f" Prospective period: {record.figure(prospective)}." if record.prospective else ""),
        ),
        "## Introduction",
        *_item("3a", "Healthcare context", config.intended_use),
        *_item(
            "3b",
            "Target population and users",
            f"Prediction points: the `{config.case}` "
            "case (admission: the first hours of a stay; discharge: at discharge; ward: each "
            "ward vitals observation). Users: the ward and discharge teams, through the risk "
            "server and the dashboard.",
        ),
        *_item(
            "3c",
            "Health inequalities",
            "Performance and calibration are reported per sex, "
            "age band, race and payer (item 23b); the world's causal model gives none of "
            "them a direct effect beyond age.",
        ),
        *_item(
            "4",
            "Objectives",
            "Development (tuning, fitting, calibration), internal "
            "temporal validation on a held-out test period, and external temporal validation "
            "on a later period of the same world"
            + (" and on facilities held out in turn." if transported else "."),
        ),
        "## Methods",
        *_item(
            "5a",
            "Data sources",
            f"A synthetic health system of {world['n_patients']:,} "
            f"patients and {len(world['facilities'])} facilities generated by `data_gen` (seed "
            f"{world['seed']}), de-identified by the ETL; its truth (each patient's true risk) "
            "is kept apart as the oracle. Representative of no real population.",
        ),
        *_item(
            "5b",
            "Data dates",
            f"Development: {start:%Y-%m-%d} to {end:%Y-%m-%d}; test period from "
            f"{test_start:%Y-%m-%d}"
            + (
                f"; prospective period ({later['scenario']}) {later['first']} to {later['last']}."
                if later
                else "; no prospective period yet."
            ),
        ),
        *_item(
            "6a",
            "Setting",
            f"Inpatient care, {len(world['facilities'])} hospitals "
            "(academic, community, critical access).",
        ),
        *_item(
            "6b",
            "Eligibility",
            f"Every `{config.case}` prediction point with its label "
            f"known; the first {splits['warm_up_days']} days left out (no history yet).",
        ),
        *_item(
            "6c",
            "Treatments",
            "Treatments follow the world's protocols; the model does not "
            "condition on the treatment chosen after its prediction time.",
        ),
        *_item(
            "7",
            "Data preparation",
            "Schema checks and quarantine (pandera), then "
            "pseudonymisation; features computed by the same functions in training, serving and "
            "the dashboard.",
        ),
        *_item("8a", "Outcome", f"`{config.target}`: {config.question}"),
        *_item(
            "8b",
            "Outcome assessment",
            "From the records (stays, events), never from the "
            "predictors; the oracle's true risk is used only to measure the ceiling.",
        ),
        *_item(
            "8c",
            "Outcome blinding",
            "Not applicable: outcomes are recorded by the world, not judged.",
        ),
        *_item(
            "9a",
            "Predictors",
            f"{len(record.features)} features known at the prediction "
            "time (the data dictionary is logged with the run: `data/data_dictionary.md`).",
        ),
        *_item(
            "9b",
            "Predictor assessment",
            "Only what is recorded before the prediction time; "
            "leakage tests perturb later records and require the same prediction.",
        ),
        *_item("9c", "Predictor blinding", "Not applicable (recorded values)."),
        *_item(
            "10",
            "Sample size",
            f"Training {int(record.params.get('train_rows', 0)):,}, "
            f"validation {int(record.params.get('validation_rows', 0)):,} and test "
            f"{int(record.params.get('test_rows', 0)):,} rows [`train_rows`, "
            "`validation_rows`, `test_rows`]"
            + (
                f"; prospective {int(m.get(registry.prospective_metric('rows'), 0)):,} rows "
                f"[`{registry.prospective_metric('rows')}`]."
                if record.prospective
                else "."
            ),
        ),
        *_item("11", "Missing data", _missing_text(record.missing)),
        *_item(
            "12a",
            "Data use",
            f"Splits by patient (keyed hash) and time: the last "
            f"{splits['test_months']} months of {splits['test_patient_share']:.0%} of patients "
            "form the test split; validation patients tune and calibrate.",
        ),
        *_item(
            "12b",
            "Predictor handling",
            "As recorded; one-hot categories; no selection beyond the declared feature set.",
        ),
        *_item(
            "12c",
            "Model type and tuning",
            f"Families {', '.join(config.families)} tuned by "
            f"Optuna ({record.params.get('trials_per_family')} trials each) on validation "
            f"{config.metric}; chosen: {record.params.get('family')} with {chosen}.",
        ),
        *_item(
            "12d",
            "Heterogeneity",
            "Clustering by patient handled by the split; facilities "
            "are features" + (" and are held out in turn (item 23a)." if transported else "."),
        ),
        *_item(
            "12e",
            "Performance measures",
            "Discrimination (AUROC, AUPRC), calibration "
            "(ECE, slope and intercept, integrated calibration index and E90), net benefit; "
            "R2, MAE and RMSE for regression; 95% percentile bootstrap intervals "
            f"({s['training']['bootstrap_resamples']} resamples) and the share of the oracle's "
            "lift over no skill.",
        ),
        *_item(
            "12f",
            "Model updating",
            "None after training; drift monitoring (`make monitor`) says when to retrain.",
        ),
        *_item(
            "12g",
            "External validation",
            "The prospective period (new patients of the same "
            "world, later dates)" + ("; leave-one-facility-out refits." if transported else "."),
        ),
        *_item(
            "13",
            "Class imbalance",
            "None corrected: the outcome's prevalence is kept, and "
            "probabilities are recalibrated on validation rows (the method chosen: "
            "`calibration/choice.json`)."
            if config.kind == "binary"
            else "Not applicable (regression).",
        ),
        *_item(
            "14",
            "Fairness",
            "Subgroup metrics and calibration per sex, age band, race and payer (item 23b).",
        ),
        *_item("15", "Model output", _output(config)),
        *_item(
            "16",
            "Training versus evaluation",
            "The test and prospective rows were never seen in tuning, fitting or calibration.",
        ),
        *_item(
            "17",
            "Ethical approval",
            "Not applicable: synthetic data. A deployment on real records needs its own approval.",
        ),
        "## Open science",
        *_item("18a", "Funding", CANNOT_KNOW),
        *_item("18b", "Conflicts of interest", CANNOT_KNOW),
        *_item("18c", "Protocol", CANNOT_KNOW),
        *_item("18d", "Registration", CANNOT_KNOW),
        *_item(
            "18e",
            "Data sharing",
            "The data is regenerated from the logged configuration "
            "(`config/resolved_config.json`) and seed.",
        ),
        *_item("18f", "Code sharing", f"The repository at `{record.tags.get('git_commit', '?')}`."),
        *_item("19", "Patient and public involvement", CANNOT_KNOW),
        "## Results",
        *_item(
            "20a",
            "Participants",
            f"Test rows {int(record.params.get('test_rows', 0)):,}; "
            "the outcome's rate per group is the subgroup table's `observed`.",
        ),
        *_item("20b", "Characteristics", "See the subgroup table below (sizes per group)."),
        *_item(
            "20c",
            "Development versus evaluation data",
            "The same world and case mix; the prospective period is later and has new patients.",
        ),
        *_item("21", "Participants and outcome events per analysis", "See items 10 and 20a."),
        *_item(
            "22",
            "Full model",
            "Logged as an MLflow model with its signature, estimator "
            "and calibration (`model/`); SHAP importances in `explanations/`.",
        ),
        "**23a. Performance.**",
        "",
        *_performance_lines(record, lift),
        "",
        "**23b. Subgroups** (test split).",
        "",
        *_table(record.subgroups.round(4)),
        "",
        *(
            [
                "**23a (transport). Leave one facility out.**",
                "",
                *_table(record.transport.round(4)),
                "",
            ]
            if transported
            else []
        ),
        *_item("24", "Model updating", "None (see 12f)."),
        "## Discussion",
        *_item(
            "25",
            "Interpretation",
            f"Against the clinical baselines ({baselines}) and the "
            f"oracle ({record.figure(registry.oracle_metric(config.metric))}); the goal "
            + (
                f"of {config.ceiling_goal:.0%} of the ceiling is "
                f"**{record.prospective['verdict']}** on the prospective period."
                if record.prospective and config.ceiling_goal
                else "is not judged yet."
            ),
        ),
        *_item(
            "26",
            "Limitations",
            "Synthetic data: the model learned the generator's causal "
            "model, not a hospital's. Intervals resample rows, not patients (ward "
            "observations of one stay are correlated). Calibration holds for the population "
            "it was fitted on.",
        ),
        *_item(
            "27a",
            "Poor-quality or missing input",
            "The server rejects malformed or "
            "out-of-range cases with an error naming the field; missing measurements are "
            "handled as in training (item 11).",
        ),
        *_item(
            "27b",
            "User interaction",
            "Decision support beside the clinical score, never a "
            "decision on its own; the dashboard shows the top reasons (SHAP).",
        ),
        *_item(
            "27c",
            "Next steps",
            "Prospective evaluation on local data, and an impact study before routine use.",
        ),
    ]
    return "\n".join(lines) + "\n"


def _parameter(value: str) -> str:
    """A tuned parameter as logged, floats to four significant digits."""
    try:
        number = float(value)
    except ValueError:
        return value
    return value if number.is_integer() else f"{number:.4g}"


def _output(config: TaskConfig) -> str:
    if config.kind == "binary":
        return f"A calibrated probability, with low, medium and high bands at {config.risk_bands}."
    return f"An estimate in {config.unit}."


def _missing_text(missing: dict[str, float] | None) -> str:
    if missing is None:
        return "Not logged by this run (it predates the record of missing values)."
    if not missing:
        return "No feature is missing on the test rows [`data/missing_shares.json`]."
    worst = sorted(missing.items(), key=lambda kv: -kv[1])[:5]
    listed = ", ".join(f"`{name}` {share:.1%}" for name, share in worst)
    return (
        f"{len(missing)} features have missing values on the test rows (most: {listed}) "
        "[`data/missing_shares.json`]. Kept missing for the boosters (a learned default "
        "direction at each split); the training median for the linear family."
    )


def _performance_lines(record: RunRecord, lift: str) -> list[str]:
    config = record.config
    names = BINARY_MEASURES if config.kind == "binary" else ["rmse", "mae", "r2"]
    rows = ["| measure | test split | prospective period |", "| --- | --- | --- |"]
    for name in names:
        prospective = (
            record.figure(registry.prospective_metric(name)) if record.prospective else "not run"
        )
        rows.append(f"| {name} | {record.figure(registry.metric_on_test(name))} | {prospective} |")
    share = registry.ceiling_fraction(lift)
    later = registry.prospective_metric(share)
    rows.append(
        f"| share of the ceiling ({lift}) | {record.figure(share, percent=True)} | "
        + (record.figure(later, percent=True) if record.prospective else "not run")
        + " |"
    )
    if config.kind == "binary":
        for baseline in config.baselines:
            gain = registry.net_benefit_gain(baseline)
            low, high = config.decision_thresholds
            later = registry.prospective_metric(gain)
            rows.append(
                f"| net benefit above `{baseline}`, thresholds {low:g}-{high:g} | "
                f"{record.figure(gain, digits=4)} | "
                + (record.figure(later, digits=4) if record.prospective else "not run")
                + " |"
            )
    return rows


def _table(frame: pd.DataFrame) -> list[str]:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return [header, rule, *body]


def model_facts(record: RunRecord) -> str:
    """The one-page label a clinician reads before trusting a score (Markdown)."""
    config = record.config
    lift = "auroc" if config.kind == "binary" else "r2"
    on = registry.prospective_metric if record.prospective else registry.metric_on_test
    where = "the prospective period" if record.prospective else "the test split"
    primary = on(config.metric)
    ceiling = registry.ceiling_fraction(lift)
    share = record.figure(
        registry.prospective_metric(ceiling) if record.prospective else ceiling, percent=True
    )
    lines = [
        f"# Model facts: {config.title}",
        "",
        f"**Version** {record.version} ({record.params.get('family')}), run `{record.run_id}`.",
        "",
        "## Summary",
        config.intended_use,
        "",
        "## Mechanism",
        f"- Outcome: `{config.target}` ({config.question})",
        f"- When: the `{config.case}` prediction point; {len(record.features)} features recorded "
        "before it.",
        f"- Output: {_output(config)}",
        "",
        "## Validation and performance",
        f"- {config.metric.upper()} {record.figure(primary)} on {where}.",
        f"- Share of the true risk's lift: {share} on {where}.",
        *(
            [
                f"- Calibration on {where}: ICI {record.figure(on('ici'))}, slope "
                f"{record.figure(on('calibration_slope'))}."
            ]
            if config.kind == "binary"
            else []
        ),
        *(
            f"- Against `{b}`: {config.metric} "
            f"{record.figure(registry.baseline_metric(b, config.metric))}."
            for b in config.baselines
        ),
        "",
        "## Uses and directions",
        "- Decision support beside the clinical score, reviewed by a clinician.",
        "- Not for patients outside the population it was trained on, nor for children.",
        "",
        "## Warnings",
        "- Trained on a synthetic hospital world: re-validate on local data before any use.",
        "- Subgroups with few patients have wide intervals (see the full report).",
        "",
        "## Other information",
        "- Full report: the TRIPOD+AI report logged beside this label (`reports/tripod_ai.md`).",
    ]
    return "\n".join(lines) + "\n"


def html(title: str, text: str) -> str:
    """A Markdown report as a self-contained HTML page."""
    body = markdown.markdown(text, extensions=["tables"])
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;line-height:1.45}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem}"
        "code{background:#f4f4f4}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{style}</style></head><body>{body}</body></html>\n"
    )


def log_reports(client: MlflowClient, record: RunRecord) -> dict[str, str]:
    """Both reports, Markdown and HTML, on the champion's run under ``reports/``."""
    written = {}
    for name, text in (("tripod_ai", tripod_report(record)), ("model_facts", model_facts(record))):
        client.log_text(record.run_id, text, f"{registry.REPORTS}/{name}.md")
        client.log_text(record.run_id, html(name, text), f"{registry.REPORTS}/{name}.html")
        written[name] = text
    return written
