"""The hospital KPI tables: SQL files under ``monitoring/kpis/``, run by DuckDB over the clean
Parquet tables or, with a URL, by PostgreSQL over a copy of them.

Each SQL file is one table by facility and month (or by protocol, procedure, payer) with its
totals. The SQL sticks to what both engines read alike (CUBE and GROUPING SETS, window frames,
``percentile_cont ... WITHIN GROUP``), so one file serves both. Two helper tables come from here:
``expected_mortality`` (each stay's risk of dying in hospital from a risk-adjustment model on what
is known at admission), ``calendar_days`` (the days of the data period), ``diagnosis_groups`` (each
principal-diagnosis code's group) and the census and ratio targets of the nursing tables.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from configs import Settings, vocabulary
from features import build, cases, census, engine, partitions, scores
from features.interactions import KnowledgeBase

SQL_DIR = Path(__file__).resolve().parent / "kpis"
SOURCE_TABLES = (
    "encounters", "patients", "facilities", "ed_visits", "procedures", "nurse_staffing",
    "ed_providers", "claims",
)  # fmt: skip
TOTAL = "all"
# A table for the SQL: a frame in memory, or a partitioned table's folder, read out of core.
Source = pd.DataFrame | Path


def queries() -> dict[str, str]:
    """Every KPI query, by table name (the SQL file's stem)."""
    return {path.stem: path.read_text() for path in sorted(SQL_DIR.glob("*.sql"))}


def case_mix(clean: dict[str, pd.DataFrame], settings: Settings) -> pd.DataFrame:
    """Per stay: whether the patient died in hospital, and what is known at admission (age, sex,
    admission type and source, principal diagnosis group, comorbidities, prior use, first vitals
    and labs; not where, nor how treated): the inputs of ``expected_mortality``, computable
    partition by partition."""
    stays = build.admission_cases(clean, settings.features)
    features = cases.admission_features(stays, KnowledgeBase.of(settings))
    columns = [
        c
        for c in features.columns
        if not c.startswith(("facility", "unit_", "protocol_", "payer_"))
        and c not in cases.MEDICATION_FEATURES
    ]
    died = stays["encounter_key"].map(
        clean["encounters"].set_index("encounter_key")["discharge_disposition"]
    )
    return pd.concat(
        [
            stays[["encounter_key"]],
            pd.DataFrame({"died": (died == vocabulary.EXPIRED).to_numpy()}, index=stays.index),
            features[columns],
        ],
        axis=1,
    ).reset_index(drop=True)


def expected_mortality(case_mix_rows: pd.DataFrame) -> pd.DataFrame:
    """Each stay's expected risk of in-hospital death, from a logistic regression on its case mix
    (``case_mix``), fitted on all stays of the period: the usual indirect standardisation, so that
    a facility's observed/expected ratio compares it with the whole system's patients like its
    own."""
    x = case_mix_rows.drop(columns=["encounter_key", "died"]).to_numpy()
    model = make_pipeline(
        SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000)
    )
    model.fit(x, case_mix_rows["died"].to_numpy())
    return pd.DataFrame(
        {
            "encounter_key": case_mix_rows["encounter_key"].to_numpy(),
            "expected_death": model.predict_proba(x)[:, 1],
        }
    )


def diagnosis_groups(codes: pd.Series) -> pd.DataFrame:
    """The principal-diagnosis group (``features.scores``) of each distinct code."""
    distinct = pd.Series(codes.dropna().unique(), dtype=object)
    return pd.DataFrame({"code": distinct, "diagnosis_group": scores.diagnosis_group(distinct)})


def calendar_days(encounters: pd.DataFrame) -> pd.DataFrame:
    """The days of the data period (first to last admission), each with its month."""
    days = pd.date_range(
        encounters["admitted_at"].min().normalize(),
        encounters["admitted_at"].max().normalize(),
        freq="D",
    )
    return pd.DataFrame({"day": days, "month": days.to_period("M").to_timestamp()})


def staffing_helpers(
    encounters: pd.DataFrame, roster: pd.DataFrame, settings: Settings
) -> dict[str, pd.DataFrame]:
    """The census of every staffed unit in every shift (``features.census``) and the hospital's
    ratio targets (``operations.staffing.safe_patients_per_nurse``)."""
    targets = settings.operations.staffing.safe_patients_per_nurse
    return {
        "shift_census": census.shift_census(encounters[census.STAY_COLUMNS], roster),
        "ratio_targets": pd.DataFrame(
            {"unit": list(targets), "safe_patients_per_nurse": list(targets.values())}
        ),
    }


def helper_tables(clean: dict[str, pd.DataFrame], settings: Settings) -> dict[str, pd.DataFrame]:
    """The helper tables of clean tables held in memory."""
    return {
        "expected_mortality": expected_mortality(case_mix(clean, settings)),
        "calendar_days": calendar_days(clean["encounters"]),
        "diagnosis_groups": diagnosis_groups(clean["encounters"]["primary_dx_code"]),
        **staffing_helpers(clean["encounters"], clean["nurse_staffing"], settings),
    }


# --------------------------------------------------------------------------------------------
# Engines


def run_duckdb(tables: dict[str, Source]) -> dict[str, pd.DataFrame]:
    """Every KPI query on DuckDB over the given tables: frames in memory, partitioned folders
    read out of core (DuckDB streams their part files and spills to disk beyond its memory)."""
    import duckdb

    with duckdb.connect() as connection:
        for name, table in tables.items():
            if isinstance(table, Path):
                connection.execute(
                    f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{table}/*.parquet')"
                )
            else:
                connection.register(name, table)
        return {name: tidy(connection.sql(sql).df()) for name, sql in queries().items()}


def run_postgres(tables: dict[str, Source], url: str, schema: str) -> dict[str, pd.DataFrame]:
    """Copy the tables into ``schema`` on PostgreSQL (replacing it whole, in one transaction),
    then run every KPI query there."""
    import psycopg2

    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        load_postgres(cursor, tables, schema)
        cursor.execute(f'SET search_path TO "{schema}"')
        results = {}
        for name, sql in queries().items():
            cursor.execute(sql)
            columns = [column.name for column in cursor.description]
            results[name] = tidy(pd.DataFrame(cursor.fetchall(), columns=columns))
        return results


_POSTGRES_TYPES: list[tuple[Callable[[pd.Series], bool], str]] = [
    (pd.api.types.is_bool_dtype, "boolean"),
    (pd.api.types.is_integer_dtype, "bigint"),
    (pd.api.types.is_float_dtype, "double precision"),
    (pd.api.types.is_datetime64_any_dtype, "timestamp"),
]


def _postgres_type(column: pd.Series) -> str:
    return next((sql for test, sql in _POSTGRES_TYPES if test(column)), "text")


def load_postgres(cursor, tables: dict[str, Source], schema: str) -> None:
    """Replace ``schema`` with the tables (COPY, as CSV; a partitioned folder one part file at a
    time); the caller commits."""
    cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    cursor.execute(f'CREATE SCHEMA "{schema}"')
    for name, source in tables.items():
        pieces = (
            (pd.read_parquet(part) for part in sorted(source.glob("*.parquet")))
            if isinstance(source, Path)
            else iter([source])
        )
        for index, table in enumerate(pieces):
            if index == 0:
                columns = ", ".join(f'"{c}" {_postgres_type(table[c])}' for c in table.columns)
                cursor.execute(f'CREATE TABLE "{schema}"."{name}" ({columns})')
            buffer = io.StringIO()
            table.to_csv(buffer, index=False, header=False, date_format="%Y-%m-%d %H:%M:%S.%f")
            buffer.seek(0)
            cursor.copy_expert(f'COPY "{schema}"."{name}" FROM STDIN WITH (FORMAT csv)', buffer)


LABELS = (
    "facility", "unit", "month", "day", "protocol", "procedure_code", "procedure", "payer",
    "diagnosis_group", "esi_level", "weekday", "hour",
)  # fmt: skip


def tidy(table: pd.DataFrame) -> pd.DataFrame:
    """Engine-neutral results: totals labelled ``all``, months as YYYY-MM, figures as float64."""
    columns = {}
    for name in table.columns:
        values = table[name].tolist()
        if name in ("month", "day"):
            shown = "%Y-%m" if name == "month" else "%Y-%m-%d"
            columns[name] = [
                TOTAL if pd.isna(v) else pd.Timestamp(v).strftime(shown) for v in values
            ]
        elif name in ("esi_level", "weekday", "hour"):
            columns[name] = [TOTAL if pd.isna(v) else str(int(v)) for v in values]
        elif name in LABELS:
            columns[name] = [TOTAL if pd.isna(v) else str(v) for v in values]
        else:
            columns[name] = np.array([np.nan if v is None else float(v) for v in values])
    return pd.DataFrame(columns)


def rows(table: pd.DataFrame, **labels: str) -> pd.DataFrame:
    """The rows of a KPI table with the given labels, every other label column at its total."""
    keep = np.ones(len(table), dtype=bool)
    for column in LABELS:
        if column in table.columns:
            keep &= (table[column] == labels.get(column, TOTAL)).to_numpy()
    return table[keep]


def by_month(
    table: pd.DataFrame, months: tuple[pd.Timestamp, pd.Timestamp], **labels: str
) -> pd.DataFrame:
    """A KPI table's monthly rows within ``months`` (first, last) for the given labels (every
    other label at its total)."""
    keep = np.ones(len(table), dtype=bool)
    for column in LABELS:
        if column in table.columns and column != "month":
            keep &= (table[column] == labels.get(column, TOTAL)).to_numpy()
    monthly = table[keep & (table["month"] != TOTAL).to_numpy()]
    monthly = monthly.assign(month=pd.to_datetime(monthly["month"]))
    first, last = months
    return monthly[monthly["month"].between(first, last)].sort_values("month")


# --------------------------------------------------------------------------------------------
# A run: read the clean tables, compute, write CSV and Markdown


def load_tables(clean_dir: Path, settings: Settings) -> dict[str, Source]:
    """The clean tables the KPI SQL reads, as partitioned folders read out of core, and the helper
    tables, computed partition by partition on the engine."""
    missing = [name for name in SOURCE_TABLES if not (clean_dir / f"{name}.parquet").exists()]
    if missing:
        raise FileNotFoundError(
            f"no clean {', '.join(missing)} table in {clean_dir}: run `make etl` first"
        )
    clean_dir = clean_dir.resolve()
    n = partitions.part_count(clean_dir / "encounters.parquet")
    work = functools.partial(_case_mix_part, clean_dir, settings)
    mix = engine.map_partitions(work, list(range(n)), settings.engine, "kpis-case-mix")
    encounters = clean_dir / "encounters.parquet"
    with partitions.duckdb_connection(settings.engine) as sql:
        first, last = sql.execute(
            "SELECT min(admitted_at), max(admitted_at) FROM read_parquet(?)",
            [str(encounters / "*.parquet")],
        ).fetchone()
        codes = sql.execute(
            "SELECT DISTINCT primary_dx_code FROM read_parquet(?)", [str(encounters / "*.parquet")]
        ).df()["primary_dx_code"]
    period = pd.DataFrame({"admitted_at": [pd.Timestamp(first), pd.Timestamp(last)]})
    stays = pd.read_parquet(encounters, columns=census.STAY_COLUMNS)  # a few columns, held whole
    roster = pd.read_parquet(clean_dir / "nurse_staffing.parquet")
    return {name: clean_dir / f"{name}.parquet" for name in SOURCE_TABLES} | {
        "expected_mortality": expected_mortality(pd.concat(mix, ignore_index=True)),
        "calendar_days": calendar_days(period),
        "diagnosis_groups": diagnosis_groups(codes),
        **staffing_helpers(stays, roster, settings),
    }


def _case_mix_part(clean_dir: Path, settings: Settings, part: int) -> pd.DataFrame:
    return case_mix(partitions.read_part(clean_dir, part), settings)


def write_kpis(results: dict[str, pd.DataFrame], folder: Path) -> None:
    """Each table as CSV, and all of them as one readable Markdown page."""
    folder.mkdir(parents=True, exist_ok=True)
    page = ["# Hospital KPIs", "", "Rows labelled `all` are totals over that column.", ""]
    for name, table in results.items():
        table.to_csv(folder / f"{name}.csv", index=False)
        sql = (SQL_DIR / f"{name}.sql").read_text().splitlines()
        purpose = " ".join(line.removeprefix("-- ") for line in sql if line.startswith("--"))
        page += [f"## {name.replace('_', ' ').capitalize()}", "", purpose, ""]
        formats = [_number_format(table[column]) for column in table.columns]
        page += [table.to_markdown(index=False, floatfmt=formats), ""]
    (folder / "kpis.md").write_text("\n".join(page))


def _number_format(column: pd.Series) -> str:
    """Counts without decimals, other figures with three, labels as they are."""
    if column.name in LABELS:
        return ""
    return ",.0f" if np.allclose(column % 1, 0, equal_nan=True) else ",.3f"


def headline(results: dict[str, pd.DataFrame]) -> list[tuple[str, str]]:
    """The system-wide figures: the grand-total row of the main tables."""

    def total(name: str, column: str) -> float:
        table = results[name]
        labels = [c for c in LABELS if c in table.columns]
        return float(table.loc[(table[labels] == TOTAL).all(axis=1), column].iloc[0])

    return [
        ("average length of stay", f"{total('length_of_stay', 'los_mean_days'):.2f} days"),
        ("30-day unplanned readmission", f"{total('readmissions', 'readmitted_30d_rate'):.1%}"),
        (
            "in-hospital mortality, observed/expected",
            f"{total('mortality', 'mortality_rate'):.2%}, O/E "
            f"{total('mortality', 'observed_to_expected'):.2f} "
            f"({total('mortality', 'observed_to_expected_low'):.2f}-"
            f"{total('mortality', 'observed_to_expected_high'):.2f})",
        ),
        ("treatment success", f"{total('treatment_success', 'success_rate'):.1%}"),
        ("cost per encounter", f"${total('costs', 'cost_per_encounter_usd'):,.0f}"),
        (
            "revenue per stay, margin",
            f"${total('finance', 'revenue_per_stay_usd'):,.0f}, "
            f"{total('finance', 'margin_share'):.1%}",
        ),
        ("bed utilisation", f"{total('bed_occupancy', 'utilisation'):.1%}"),
        (
            "ED arrival to provider, median / 90th percentile",
            f"{total('ed_waits', 'wait_median_minutes'):.0f} / "
            f"{total('ed_waits', 'wait_p90_minutes'):.0f} min",
        ),
        ("left without being seen", f"{total('ed_waits', 'left_without_being_seen_rate'):.1%}"),
        ("net promoter score", f"{total('satisfaction', 'net_promoter_score'):.0f}"),
    ]
