"""Drug-interaction alerts in silent mode: every alert the knowledge base would have raised on the
orders of each stay (``features.interactions``), by tier and unit, and judged against the harm
that followed.

The world has no alerting system, so its prescribers never reacted to an alert: what followed an
alert is what would have followed had it been ignored. Harm as the hospital records it is an
adverse drug event coded on the stay and not present on admission (``medications.event_codes``);
it has no time, so an alert counts as followed by it when its stay has the event it warns of.
Per tier:

- alerts per 100 orders (every order placed, home medicines reconciled included);
- positive predictive value: the share of alerts whose stay then had the event they warn of;
- sensitivity: the share of stays with a coded event in which an alert of that tier warned of it.

Against the world's truth (the oracle's events, with their onset times and causes), the same
figures count an alert as followed when the event began after it, and sensitivity over the events
the world puts down to an interaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from configs import Settings
from configs.vocabulary import ALERT_TIERS
from features import interactions
from features.build import age_bands
from pharmacy import PharmacyError, oracle_rows

ORDER_COLUMNS = ["encounter_key", "drug_name", "source", "ordered_at", "stopped_at"]
ANY_TIER = "any"  # every alert, whatever its tier


@dataclass(frozen=True)
class Orders:
    """Every order with its stay's unit and facility, and the stays' coded adverse drug events."""

    orders: pd.DataFrame  # one row per order, with order_key and its stay's unit, facility, age
    coded: pd.DataFrame  # encounter_key, event: each stay's coded adverse drug events
    stays: pd.Series  # every stay's encounter_key


def load_orders(clean_dir: Path, settings: Settings) -> Orders:
    """The orders and coded events of every partition of ``clean_dir`` (data/clean)."""
    needed = ("medications", "encounters", "diagnoses")
    if missing := [t for t in needed if not (clean_dir / f"{t}.parquet").exists()]:
        raise FileNotFoundError(
            f"no clean {', '.join(missing)} in {clean_dir}: run `make etl` first"
        )
    stays = pd.read_parquet(
        clean_dir / "encounters.parquet",
        columns=["encounter_key", "facility_id", "unit", "age_years"],
    )
    orders = pd.read_parquet(clean_dir / "medications.parquet", columns=ORDER_COLUMNS)
    if orders.empty:
        raise PharmacyError(f"no medication orders in {clean_dir}")
    orders = orders.sort_values(["encounter_key", "ordered_at", "drug_name"], ignore_index=True)
    orders["order_key"] = np.arange(len(orders))
    orders = orders.merge(stays, on="encounter_key", how="left", validate="many_to_one")
    diagnoses = pd.read_parquet(
        clean_dir / "diagnoses.parquet", columns=["encounter_key", "code", "present_on_admission"]
    )
    return Orders(orders, coded_events(diagnoses, settings), stays["encounter_key"])


def coded_events(diagnoses: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Each stay's adverse drug events as coded: codes of ``event_codes`` not present on
    admission (one row per stay and event)."""
    event_of = {
        code: event for event, codes in settings.medications.event_codes.items() for code in codes
    }
    acquired = diagnoses[~diagnoses["present_on_admission"].astype(bool)]
    events = acquired.assign(event=acquired["code"].map(event_of)).dropna(subset=["event"])
    return events[["encounter_key", "event"]].drop_duplicates(ignore_index=True)


def alerts(orders: Orders, settings: Settings) -> pd.DataFrame:
    """Every alert the stays' orders raise, with the stay's unit and facility."""
    kb = interactions.KnowledgeBase.of(settings)
    raised = interactions.order_alerts(kb, orders.orders)
    where = orders.orders.set_index("order_key")[["unit", "facility_id"]]
    return raised.join(where, on="order_key")


def rates(orders: pd.DataFrame, raised: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Alerts per 100 orders for each tier and all of them (and each ``by`` value: unit or
    facility_id)."""
    keys = [by] if by else []
    placed = orders.groupby(keys).size() if by else pd.Series({None: len(orders)})
    rows = []
    for tier in (*ALERT_TIERS, ANY_TIER):
        mine = raised if tier == ANY_TIER else raised[raised["tier"] == tier]
        counted = mine.groupby(keys).size() if by else pd.Series({None: len(mine)})
        for value, n_orders in placed.items():
            n = int(counted.get(value, 0))
            rows.append(
                {
                    **({by: value} if by else {}),
                    "tier": tier,
                    "orders": int(n_orders),
                    "alerts": n,
                    "alerts_per_100_orders": 100.0 * n / n_orders,
                }
            )
    return pd.DataFrame(rows)


def against_harm(raised: pd.DataFrame, harm: pd.DataFrame, timed: bool = False) -> pd.DataFrame:
    """Per tier (and for all of them): alerts, the share followed by the event they warn of (PPV,
    with a Wilson 95% interval), and the share of events preceded by an alert of that tier
    warning of them (sensitivity). ``harm``: encounter_key and event (and onset_at when
    ``timed``: an alert then counts only when the event began after it)."""
    rows = []
    for tier in (*ALERT_TIERS, ANY_TIER):
        mine = raised if tier == ANY_TIER else raised[raised["tier"] == tier]
        matched = mine.merge(
            harm, left_on=["encounter_key", "effect"], right_on=["encounter_key", "event"]
        )
        if timed:
            matched = matched[matched["onset_at"] > matched["ordered_at"]]
        followed = matched.drop_duplicates(["encounter_key", "order_key", "rule"])
        warned = matched.drop_duplicates(["encounter_key", "event"])
        ppv, low, high = wilson(len(followed), len(mine))
        sensitivity, s_low, s_high = wilson(len(warned), len(harm))
        rows.append(
            {
                "tier": tier,
                "alerts": len(mine),
                "followed_by_harm": len(followed),
                "ppv": ppv,
                "ppv_low": low,
                "ppv_high": high,
                "events": len(harm),
                "events_warned": len(warned),
                "sensitivity": sensitivity,
                "sensitivity_low": s_low,
                "sensitivity_high": s_high,
            }
        )
    return pd.DataFrame(rows)


def wilson(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float, float]:
    """A proportion with its Wilson score interval (NaN without trials)."""
    if trials == 0:
        return np.nan, np.nan, np.nan
    p = successes / trials
    centre = (p + z**2 / (2 * trials)) / (1 + z**2 / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / (1 + z**2 / trials)
    # Clipped to hold the proportion itself, which rounding can put a hair outside at 0 or 1.
    return p, min(max(centre - half, 0.0), p), max(min(centre + half, 1.0), p)


def polypharmacy(orders: pd.DataFrame, at_least: int = 5) -> pd.DataFrame:
    """Per age band: stays, their mean number of home medicines and the share with ``at_least``
    or more (``orders`` with source and age_years; a stay without home medicines counts as 0)."""
    home = orders[orders["source"] == "home"].groupby("encounter_key")["drug_name"].nunique()
    stays = orders.drop_duplicates("encounter_key").set_index("encounter_key")["age_years"]
    counts = home.reindex(stays.index, fill_value=0)
    frame = pd.DataFrame({"age_band": age_bands(stays), "home_medicines": counts})
    return (
        frame.groupby("age_band", observed=True)
        .agg(
            stays=("home_medicines", "size"),
            mean_home_medicines=("home_medicines", "mean"),
            share_at_least=("home_medicines", lambda c: (c >= at_least).mean()),
        )
        .reset_index()
    )


def top_pairs(raised: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The pairs of drugs alerted on most, with their severity and the event they warn of."""
    pair = raised.assign(
        pair=[
            " + ".join(sorted(p)) for p in zip(raised["drug"], raised["active_drug"], strict=True)
        ]
    )
    return (
        pair.groupby(["pair", "severity", "tier", "effect"], as_index=False)
        .size()
        .rename(columns={"size": "alerts"})
        .sort_values("alerts", ascending=False, ignore_index=True)
        .head(n)
    )


def true_harm(
    data_dir: Path, settings: Settings, stays: pd.Series, key_root: Path = Path()
) -> pd.DataFrame:
    """The world's adverse drug events (``data/oracle``), keyed by the clean tables' pseudonyms:
    encounter_key, event, onset_at, cause. For judging alerts against the truth, never a feature."""
    return oracle_rows(
        data_dir / "oracle" / "adverse_drug_events.parquet",
        ["event", "onset_at", "cause"],
        settings,
        stays,
        key_root,
    )
