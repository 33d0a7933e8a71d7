"""Patient journeys: the way into hospital, the ward unit, the ICU, the destination at discharge
and a 30-day readmission, as counts of paths, links between stages (a Sankey diagram's) and the
length of each leg."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from features import build

STAGES = ("entry", "ward", "icu", "discharge", "readmission")
READMISSION_DAYS = 30
ENTRIES = {  # admission_source, admission_type -> the way in
    "emergency_department": "emergency department",
    "transfer": "transfer in",
    "physician_referral": "referral",
}


def stages(encounters: pd.DataFrame) -> pd.DataFrame:
    """One row per stay: its stage labels (STAGES) and its legs' lengths (ward and ICU days, and
    days to an unplanned readmission). Stays without 30 days of follow-up are left out; stays
    ending in death or a transfer out have no readmission stage."""
    e = encounters
    data_end = e["admitted_at"].max()
    readmitted = build.readmission_labels(e, [READMISSION_DAYS], data_end)[
        f"readmitted_{READMISSION_DAYS}d"
    ]
    followed = e["discharged_at"] + pd.Timedelta(days=READMISSION_DAYS) <= data_end
    elective = e["admission_type"] == "elective"
    in_icu = (e["unit"] == "icu") | (e["deterioration_event"] == "icu_transfer")
    stay_days = (e["discharged_at"] - e["admitted_at"]).dt.total_seconds() / 86400
    frame = pd.DataFrame(
        {
            "entry": np.where(elective, "elective", e["admission_source"].map(ENTRIES)),
            "ward": e["ward_unit"].to_numpy(),
            "icu": np.where(in_icu, "ICU", "no ICU"),
            "discharge": e["discharge_disposition"].to_numpy(),
            "readmission": np.select(
                [readmitted == 1, readmitted == 0],
                [f"readmitted within {READMISSION_DAYS} d", "not readmitted"],
                default="",
            ),
            "ward_days": (stay_days - e["icu_days"].fillna(0)).to_numpy(),
            "icu_days": e["icu_days"].fillna(0).to_numpy(),
        },
        index=e.index,
    )
    return frame[followed.to_numpy()]


def paths(by_stay: pd.DataFrame) -> pd.DataFrame:
    """Every path through the stages with its stays, share and mean legs, most common first."""
    grouped = by_stay.groupby(list(STAGES), sort=False)
    table = grouped.agg(
        stays=("ward_days", "size"), ward_days=("ward_days", "mean"), icu_days=("icu_days", "mean")
    ).reset_index()
    table["share"] = table["stays"] / table["stays"].sum()
    return table.sort_values("stays", ascending=False, ignore_index=True)


def links(by_stay: pd.DataFrame) -> pd.DataFrame:
    """The flows between consecutive stages (source, target, stays): a Sankey diagram's links.
    Labels are prefixed by their stage so that the same word at two stages stays two nodes."""
    pieces = []
    for first, second in itertools.pairwise(STAGES):
        pair = by_stay[by_stay[second] != ""]
        counted = pair.groupby([first, second]).size().rename("stays").reset_index()
        pieces.append(
            pd.DataFrame(
                {
                    "source": first + ": " + counted[first],
                    "target": second + ": " + counted[second],
                    "stays": counted["stays"],
                }
            )
        )
    return pd.concat(pieces, ignore_index=True)
