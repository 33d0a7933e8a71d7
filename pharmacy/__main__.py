"""``python -m pharmacy``: drug-interaction alerts in silent mode, judged against the harm that
followed, and the efficacy study of antibiotic timing, judged against the world's truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from configs import cli, load_settings_or_exit
from features.io import atomic_folder
from pharmacy import PharmacyError, efficacy
from pharmacy import alerts as alerting

app = cli.app(__doc__)
console, errors = cli.consoles()

DataDir = Annotated[Path, typer.Option("--data-dir", help="folder holding clean/ and oracle/")]


@app.callback()
def main() -> None:
    """Pharmacy: interaction alerts and the harm that followed; antibiotic timing's effect."""


@app.command("alerts")
def alerts_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Every alert the interaction knowledge base would have raised on the stays' orders: rates
    per 100 orders by tier and unit, the pairs alerted on most, and each tier's positive
    predictive value and sensitivity against the adverse drug events coded on the stays and
    against the world's own (the oracle); tables in reports/pharmacy/alerts/."""
    settings = load_settings_or_exit(profile, overrides)
    try:
        orders = alerting.load_orders(data_dir / "clean", settings)
        raised = alerting.alerts(orders, settings)
        truth = alerting.true_harm(data_dir, settings, orders.stays)
    except (PharmacyError, FileNotFoundError) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    by_tier = alerting.rates(orders.orders, raised)
    coded = alerting.against_harm(raised, orders.coded)
    caused = truth[truth["cause"] == "interaction"]
    true = alerting.against_harm(raised, caused, timed=True)
    target = Path(settings.medications.tables_dir) / "alerts"
    with atomic_folder(target) as folder:
        raised.to_csv(folder / "alerts.csv", index=False)
        by_tier.to_csv(folder / "rates.csv", index=False)
        alerting.rates(orders.orders, raised, by="unit").to_csv(
            folder / "rates_by_unit.csv", index=False
        )
        alerting.top_pairs(raised, n=25).to_csv(folder / "top_pairs.csv", index=False)
        coded.to_csv(folder / "against_coded_harm.csv", index=False)
        true.to_csv(folder / "against_true_harm.csv", index=False)
    shown = Table(
        title=f"Interaction alerts on {len(orders.orders):,} orders (silent mode): per 100 orders,"
        " and against the harm that followed (95% intervals)"
    )
    for column in ("tier", "per 100 orders", "PPV, coded harm", "PPV, true harm",
                   "sensitivity, interaction harm"):  # fmt: skip
        shown.add_column(column, justify="left" if column == "tier" else "right")
    for rate, c, t in zip(by_tier.itertuples(), coded.itertuples(), true.itertuples(), strict=True):
        shown.add_row(
            rate.tier, f"{rate.alerts_per_100_orders:.2f}", _share(c.ppv, c.ppv_low, c.ppv_high),
            _share(t.ppv, t.ppv_low, t.ppv_high),
            _share(t.sensitivity, t.sensitivity_low, t.sensitivity_high),
        )  # fmt: skip
    console.print(shown)
    console.print(f"tables in {target}/")


@app.command("efficacy")
def efficacy_command(
    overrides: cli.Overrides = None,
    profile: cli.ProfileOption = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """The efficacy study: in infections, the risk of a deterioration event after a first
    antibiotic dose within the bundle's hours against later, naive and adjusted for the severity
    that steered the timing (weighting, regression, doubly robust), beside the world's true
    effect, with the covariates' balance; tables in reports/pharmacy/efficacy/."""
    settings = load_settings_or_exit(profile, overrides)
    try:
        stays = efficacy.load_cohort(data_dir / "clean", settings)
        estimates = efficacy.estimates(stays)
        truth = efficacy.true_effect(data_dir, settings, stays)
    except (PharmacyError, FileNotFoundError) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    table = pd.concat(
        [estimates, pd.DataFrame([{"method": efficacy.TRUTH, **truth}])], ignore_index=True
    )
    target = Path(settings.medications.tables_dir) / "efficacy"
    with atomic_folder(target) as folder:
        table.to_csv(folder / "estimates.csv", index=False)
        efficacy.balance(stays).to_csv(folder / "balance.csv", index=False)
    study = settings.medications.antibiotic_timing_study
    first = estimates.iloc[0]
    shown = Table(
        title=f"First {study.drug_class} dose within {study.bundle_hours:g} h against later: "
        f"{first.stays:,} stays ({first.early_stays:,} early); risk of a deterioration event"
    )
    for column in ("method", "risk early", "risk late", "difference (95% CI)"):
        shown.add_column(column, justify="left" if column == "method" else "right")
    for row in table.itertuples():
        interval = "" if row.method == efficacy.TRUTH else f" ({row.low:+.1%} to {row.high:+.1%})"
        shown.add_row(
            row.method, f"{row.risk_early:.1%}", f"{row.risk_late:.1%}",
            f"{row.risk_difference:+.1%}{interval}",
        )  # fmt: skip
    console.print(shown)
    console.print(f"tables in {target}/")


def _share(value: float, low: float, high: float) -> str:
    if value != value:
        return "-"
    return f"{value:.1%} ({low:.1%}-{high:.1%})"


if __name__ == "__main__":
    app()
