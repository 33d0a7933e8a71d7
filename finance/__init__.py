"""Finance analytics over the clean tables: Medicare's readmission penalty (``readmissions``) and
the revenue, cost and margin forecast with its backtest (``forecast``).

Imports flow as for the other analysis stages: ``finance`` reads ``features`` and ``configs``; the
dashboard reads ``finance``.
"""

from __future__ import annotations

import pandas as pd


class FinanceError(ValueError):
    """A finance question the records cannot answer: an unknown facility, an empty period, a
    series too short to forecast."""


def facility_id_of(facilities: pd.DataFrame, name: str) -> int:
    """The facility_id of the facility called ``name`` (case and spacing aside)."""
    wanted = " ".join(name.split()).casefold()
    found = facilities.loc[facilities["name"].str.casefold() == wanted, "facility_id"]
    if found.empty:
        known = ", ".join(sorted(facilities["name"]))
        raise FinanceError(f"no facility named {name!r}: the facilities are {known}")
    return int(found.iloc[0])
