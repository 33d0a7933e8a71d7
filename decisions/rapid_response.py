"""A rapid-response policy on the wards: an alert at a vitals observation whose score passes a
threshold, judged by the alerts each ward nurse would see per shift against the deteriorations
(ICU transfer, rapid response, death) it would have caught early.

A patient alerted more than once in one shift counts once: the nurse reviews the patient, not the
observation. An event is caught early when an alert was raised in the ``window_hours`` before it
and at least ``lead_hours`` before it. Nurses are the registered nurses who worked the ward units'
shifts (``nurse_staffing``). The rules compared: NEWS2 at each configured trigger, and the
deterioration champion at the thresholds that raise at most as many alerts as each trigger (the
same workload: does it catch more?) and that catch at least as many events (the same catch: with
how many fewer alerts?). Intervals on the share caught are Wilson 95% intervals over the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from configs import Settings
from configs.decisions import RapidResponse
from decisions import RISK, DecisionError, period_folder, period_rows

NEWS2 = "news2_score"
SHIFT_START_HOUR = 7  # day shifts start at 07:00 (nurse_staffing's shift_start)


@dataclass(frozen=True)
class Ward:
    """What the policy is judged on: each observation's scores and shift, each event's best
    scores in the hours before it, and the nurse shifts worked on the ward units."""

    observations: pd.DataFrame  # encounter_key, shift, news2_score, risk
    events: pd.DataFrame  # encounter_key, event, news2_score, risk (the largest in the window)
    nurse_shifts: float


def shift_of(times: pd.Series, shift_hours: int) -> np.ndarray:
    """The index of the nursing shift each time falls in (shifts start at 07:00)."""
    hours = (times - pd.Timestamp("2000-01-01 00:00")).dt.total_seconds() / 3600
    return np.floor((hours - SHIFT_START_HOUR) / shift_hours).astype(np.int64).to_numpy()


def ward(
    rows: pd.DataFrame,
    encounters: pd.DataFrame,
    staffing: pd.DataFrame,
    policy: RapidResponse,
    start: pd.Timestamp,
) -> Ward:
    """The observations, the events with their scores in the window before them, and the nurse
    shifts of the period from ``start``."""
    observations = rows[["encounter_key", "prediction_time", NEWS2, RISK]].copy()
    observations["shift"] = shift_of(observations["prediction_time"], policy.shift_hours)
    stays = encounters[
        encounters["encounter_key"].isin(observations["encounter_key"])
        & encounters["deterioration_at"].notna()
        & (encounters["deterioration_at"] >= start)
    ]
    joined = observations.merge(
        stays[["encounter_key", "deterioration_at", "deterioration_event"]], on="encounter_key"
    )
    before = joined["deterioration_at"] - joined["prediction_time"]
    inside = (before <= pd.Timedelta(hours=policy.window_hours)) & (
        before >= pd.Timedelta(hours=policy.lead_hours)
    )
    best = joined[inside].groupby("encounter_key")[[NEWS2, RISK]].max()
    events = (
        stays[["encounter_key", "deterioration_event"]]
        .rename(columns={"deterioration_event": "event"})
        .join(best, on="encounter_key")
        .fillna({NEWS2: -np.inf, RISK: -np.inf})  # no observation in the window: never caught
    )
    units = encounters.loc[encounters["encounter_key"].isin(rows["encounter_key"]), "ward_unit"]
    worked = staffing[
        staffing["unit"].isin(units.dropna().unique()) & (staffing["shift_start"] >= start)
    ]
    if worked.empty:
        raise DecisionError("no nurse shifts on the ward units in the period (nurse_staffing)")
    return Ward(observations, events.reset_index(drop=True), float(worked["worked_rn"].sum()))


def _alerted_shifts(ward_: Ward, column: str) -> np.ndarray:
    """Each (patient, shift)'s largest score: alerted at a threshold when it reaches it."""
    return ward_.observations.groupby(["encounter_key", "shift"])[column].max().to_numpy()


def judge(ward_: Ward, column: str, threshold: float) -> dict[str, float]:
    """Alerts, alerts per nurse per shift and events caught early for one score and threshold."""
    alerts = int((_alerted_shifts(ward_, column) >= threshold).sum())
    caught = int((ward_.events[column] >= threshold).sum())
    events = len(ward_.events)
    low, high = proportion_confint(caught, events, method="wilson") if events else (np.nan,) * 2
    return {
        "threshold": float(threshold),
        "alerts": alerts,
        "alerts_per_nurse_shift": alerts / ward_.nurse_shifts,
        "events": events,
        "caught_early": caught,
        "caught_share": caught / events if events else np.nan,
        "caught_share_low": float(low),
        "caught_share_high": float(high),
        "alerts_per_event_caught": alerts / caught if caught else np.inf,
    }


def matched_threshold(ward_: Ward, alerts: int | None = None, caught: int | None = None) -> float:
    """The champion's threshold that raises at most ``alerts`` alerts (the lowest such), or that
    catches at least ``caught`` events (the highest such). Calibrated risks tie (an isotonic map
    is a step function), so a count is met as nearly as the ties allow, never exceeded in the
    champion's favour."""
    values = _alerted_shifts(ward_, RISK) if alerts is not None else ward_.events[RISK].to_numpy()
    levels = np.unique(values[np.isfinite(values)])[::-1]  # highest first
    reached = np.array([(values >= level).sum() for level in levels])  # rising
    if alerts is not None:
        within = np.flatnonzero(reached <= alerts)
        return float(levels[within[-1]]) if len(within) else float("inf")
    enough = np.flatnonzero(reached >= (caught or 0))
    return float(levels[enough[0]]) if len(enough) else float("-inf")


def compare(ward_: Ward, policy: RapidResponse) -> pd.DataFrame:
    """NEWS2 at each trigger, and the champion at the same workload and at the same catch."""
    rows = []
    for trigger in policy.news2_thresholds:
        news2 = judge(ward_, NEWS2, trigger)
        rows.append({"rule": f"NEWS2 >= {trigger}", "score": NEWS2, **news2})
        workload = matched_threshold(ward_, alerts=news2["alerts"])
        rows.append(
            {
                "rule": f"champion, at most as many alerts as NEWS2 >= {trigger}",
                "score": "champion",
                **judge(ward_, RISK, workload),
            }
        )
        catch = matched_threshold(ward_, caught=news2["caught_early"])
        rows.append(
            {
                "rule": f"champion, at least as many caught as NEWS2 >= {trigger}",
                "score": "champion",
                **judge(ward_, RISK, catch),
            }
        )
    return pd.DataFrame(rows)


def load(settings: Settings, data_dir: Path) -> Ward:
    """The period's ward observations with the deterioration champion's risk, its events and
    the nurse shifts worked."""
    rows = period_rows(settings, "deterioration", data_dir)
    clean_dir = period_folder(settings, data_dir) / "clean"
    encounters = pd.read_parquet(
        clean_dir / "encounters.parquet",
        columns=["encounter_key", "ward_unit", "deterioration_at", "deterioration_event"],
    )
    staffing = pd.read_parquet(clean_dir / "nurse_staffing.parquet")
    start = pd.Timestamp(settings.data_gen.end_date)
    return ward(rows, encounters, staffing, settings.decisions.rapid_response, start)
