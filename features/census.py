"""The census: patients present per facility, unit and nursing shift, from the clean stays.

A stay is on its ward unit from admission to discharge, except on the ICU: for its ICU days from
admission when it was admitted to the ICU, or from its deterioration when it was transferred there.
A facility's units are those its nurse roster staffs; the patients of a unit it does not run are
nursed, and counted, on its medicine unit. A shift's census is the mean number of patients present
during it; a day's is the mean over its day and night shifts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from configs.vocabulary import SHIFTS

SHIFT_HOURS = 12
ICU, MEDICINE = "icu", "medicine"
KEYS = ["facility_id", "unit"]
# What the census needs of the clean stays: read only these from a large table.
STAY_COLUMNS = [
    "facility_id", "unit", "ward_unit", "admitted_at", "discharged_at", "icu_days",
    "deterioration_event", "deterioration_at",
]  # fmt: skip


class CensusError(ValueError):
    """The stays or the roster cannot give a census (a gap, an unknown unit or facility)."""


def unit_periods(encounters: pd.DataFrame) -> pd.DataFrame:
    """One row per stretch of a stay on one unit: facility_id, unit, start and end."""
    e = encounters
    direct = (e["unit"] == ICU).to_numpy()
    transfer = (e["deterioration_event"] == "icu_transfer").to_numpy() & ~direct
    in_icu = direct | transfer
    admitted, discharged = e["admitted_at"].to_numpy(), e["discharged_at"].to_numpy()
    icu_start = np.where(direct, admitted, e["deterioration_at"].to_numpy())
    icu_end = np.minimum(
        icu_start + pd.to_timedelta(e["icu_days"], unit="D").to_numpy(), discharged
    )
    ward = e["ward_unit"].to_numpy()
    stretches = [  # (unit, start, end, which stays have it)
        (np.full(len(e), ICU, dtype=object), icu_start, icu_end, in_icu),
        (ward, admitted, np.where(transfer, icu_start, discharged), ~direct),
        (ward, icu_end, discharged, in_icu),
    ]
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "facility_id": e["facility_id"].to_numpy(),
                    "unit": unit,
                    "start": start,
                    "end": end,
                }
            )[has & (end > start)]
            for unit, start, end, has in stretches
        ],
        ignore_index=True,
    )


def shifts(roster: pd.DataFrame) -> pd.DatetimeIndex:
    """The roster's shifts, in order; they must follow each other every 12 hours."""
    starts = pd.DatetimeIndex(np.sort(roster["shift_start"].unique()))
    gaps = starts[1:] - starts[:-1]
    if len(starts) == 0:
        raise CensusError("the nurse roster has no shifts")
    if (gaps != pd.Timedelta(hours=SHIFT_HOURS)).any():
        after = starts[:-1][gaps != pd.Timedelta(hours=SHIFT_HOURS)][0]
        missing = after + pd.Timedelta(hours=SHIFT_HOURS)
        raise CensusError(
            f"the nurse roster has no shift at {missing:%Y-%m-%d %H:%M} (shifts follow each "
            f"other every {SHIFT_HOURS} h)"
        )
    return starts


def shift_census(encounters: pd.DataFrame, roster: pd.DataFrame) -> pd.DataFrame:
    """The mean census of every unit a facility staffs, in every shift of the roster:
    facility_id, unit, shift_start, shift (day or night), census."""
    starts = shifts(roster)
    units = roster[KEYS].drop_duplicates().sort_values(KEYS, ignore_index=True)
    periods = unit_periods(encounters)
    runs = set(map(tuple, units.to_numpy()))
    if unknown := sorted(set(periods["facility_id"]) - set(units["facility_id"])):
        raise CensusError(f"stays at facilities the roster does not staff: {unknown}")
    missing_medicine = sorted({f for f in units["facility_id"] if (f, MEDICINE) not in runs})
    if missing_medicine:
        raise CensusError(f"facilities without a medicine unit in the roster: {missing_medicine}")
    hosted = [
        (f, u) if (f, u) in runs else (f, MEDICINE)
        for f, u in zip(periods["facility_id"], periods["unit"], strict=True)
    ]
    index = {key: i for i, key in enumerate(map(tuple, units.to_numpy()))}
    row = np.array([index[key] for key in hosted], dtype=np.int64)
    census = _mean_present(row, periods["start"], periods["end"], len(units), starts)
    frame = pd.DataFrame(
        {
            "facility_id": np.repeat(units["facility_id"].to_numpy(), len(starts)),
            "unit": np.repeat(units["unit"].to_numpy(), len(starts)),
            "shift_start": np.tile(starts.to_numpy(), len(units)),
            "census": census.ravel(),
        }
    )
    day_start = roster.loc[roster["shift"] == SHIFTS[0], "shift_start"].dt.hour.iloc[0]
    is_day = frame["shift_start"].dt.hour == day_start
    frame.insert(3, "shift", np.where(is_day, SHIFTS[0], SHIFTS[1]))
    return frame


def _mean_present(
    row: np.ndarray, start: pd.Series, end: pd.Series, rows: int, starts: pd.DatetimeIndex
) -> np.ndarray:
    """[row, shift]: the mean number of the periods (``start`` to ``end`` on ``row``) under way
    during each shift: every period's overlap with each shift it touches, summed per row and
    shift, over the shift's length."""
    length = np.timedelta64(SHIFT_HOURS, "h")
    origin = starts[0].to_datetime64()
    since = (start.to_numpy() - origin) / length, (end.to_numpy() - origin) / length
    begin, finish = np.clip(since[0], 0, len(starts)), np.clip(since[1], 0, len(starts))
    first = np.floor(begin).astype(np.int64)
    touched = np.maximum(np.ceil(finish).astype(np.int64) - first, 0)
    period = np.repeat(np.arange(len(first)), touched)
    shift = (
        first[period] + np.arange(len(period)) - np.repeat(np.cumsum(touched) - touched, touched)
    )
    overlap = np.minimum(finish[period], shift + 1) - np.maximum(begin[period], shift)
    cell = row[period] * len(starts) + shift
    return np.bincount(cell, overlap, minlength=rows * len(starts)).reshape(rows, len(starts))


def daily_census(by_shift: pd.DataFrame) -> pd.DataFrame:
    """The mean census of each day (its day shift and the night after) per facility and unit."""
    day = by_shift["shift_start"].dt.normalize()
    night = by_shift["shift"] == SHIFTS[1]
    early = night & (by_shift["shift_start"].dt.hour < SHIFT_HOURS)  # a night begun after midnight
    day = day.where(~early, day - pd.Timedelta(days=1))
    return by_shift.assign(date=day).groupby([*KEYS, "date"], as_index=False)["census"].mean()


def whole_days(daily: pd.DataFrame, roster: pd.DataFrame, warmup_days: int) -> pd.DataFrame:
    """The days of a daily census that the records cover whole: after ``warmup_days`` (the units
    fill from empty when the records begin) and before the last day (whose night runs past them)."""
    first = roster["shift_start"].min().normalize() + pd.Timedelta(days=warmup_days)
    last = roster["shift_start"].max().normalize()
    return daily[(daily["date"] >= first) & (daily["date"] < last)]
