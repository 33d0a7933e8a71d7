"""``python -m features build``: one feature table per declared task from the clean tables.

The batch side of the feature code: it assembles, for every prediction point of a case type, the
clinical inputs an application would send (what is recorded by the prediction time, nothing
later), hands them to the shared functions in ``features.cases``, and adds every label and oracle
value (``oracle_*``, never a feature) that can be known of the point and the subgroup columns
(``group_*``, never a feature). A task's table takes from its case type's points what its
declaration (configs/tasks/<task>.yaml) names, the rows whose target is known, the split and the
group-mean baselines. Output: data/features/<table>.parquet and a manifest of column roles.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from configs import Settings, vocabulary
from configs.features import FeaturesConfig
from configs.training import TaskConfig
from features import cases, deidentify, engine, partitions
from features.interactions import KnowledgeBase

FEATURES_DIR, MANIFEST = "features", "manifest.json"
KEYS = ["encounter_key", "patient_key", "prediction_time"]
GROUPS = ["group_sex", "group_age_band", "group_race", "group_payer"]
ORACLE_WINDOW_HOURS = 24
AGE_BANDS = [(18, 45, "18-44"), (45, 65, "45-64"), (65, 80, "65-79"), (80, 200, "80+")]
# The stay-level record of an ICU transfer or rapid response that the patient survived to discharge.
DETERIORATED_ALIVE = ("icu_transfer", "rapid_response")
# A baseline named baseline_<...> is the target's mean in the principal-diagnosis group.
GROUP_MEAN_PREFIX = "baseline_"


@dataclasses.dataclass(frozen=True)
class Roles:
    """What each column of a task table is for."""

    keys: list[str]
    features: list[str]
    labels: list[str]
    baselines: list[str]
    oracle: list[str]
    groups: list[str]
    split: str = "split"

    @property
    def columns(self) -> list[str]:
        """Every column of the table, in order; a baseline score that is a feature appears once."""
        ordered = [*self.keys, *self.features, *self.labels, *self.baselines, *self.oracle]
        return list(dict.fromkeys([*ordered, *self.groups, self.split]))


def roles(task: TaskConfig, config: FeaturesConfig) -> Roles:
    """The columns of a task's table, from its declaration (configs/tasks/<task>.yaml)."""
    return Roles(
        KEYS,
        cases.feature_columns(task.case, config.tasks.trend_hours),
        task.label_columns,
        task.baselines,
        task.oracle_columns,
        GROUPS,
    )


# --------------------------------------------------------------------------------------------
# Assembling cases from the clean tables


def _history(
    encounters: pd.DataFrame, ed_visits: pd.DataFrame, config: FeaturesConfig
) -> pd.DataFrame:
    """Per stay: admissions in the lookback before it, ED visits in the lookback (not its own)."""
    stays = encounters[["encounter_key", "patient_key", "admitted_at"]]
    pairs = stays.merge(
        stays.rename(columns={"encounter_key": "other", "admitted_at": "other_at"}),
        on="patient_key",
    )
    lookback = pd.Timedelta(days=config.tasks.admissions_lookback_days)
    earlier = (pairs["other_at"] < pairs["admitted_at"]) & (
        pairs["other_at"] >= pairs["admitted_at"] - lookback
    )
    admissions = pairs[earlier].groupby("encounter_key").size()
    visits = stays.merge(
        ed_visits[["patient_key", "arrival_at", "encounter_key"]],
        on="patient_key",
        suffixes=("", "_ed"),
    )
    ed_window = pd.Timedelta(days=config.tasks.ed_lookback_days)
    own = visits["encounter_key_ed"] == visits["encounter_key"]
    before = (visits["arrival_at"] < visits["admitted_at"]) & (
        visits["arrival_at"] >= visits["admitted_at"] - ed_window
    )
    ed = visits[before & ~own.fillna(False)].groupby("encounter_key").size()
    keys = encounters["encounter_key"]
    return pd.DataFrame(
        {
            "prior_admissions_12m": keys.map(admissions).fillna(0).astype("int16").to_numpy(),
            "ed_visits_6m": keys.map(ed).fillna(0).astype("int16").to_numpy(),
        },
        index=encounters.index,
    )


def _codes(diagnoses: pd.DataFrame, keys: pd.Series, present_on_admission_only: bool) -> pd.Series:
    """Secondary diagnosis codes per stay, as lists (empty when none)."""
    secondary = diagnoses[diagnoses["position"] > 1]
    if present_on_admission_only:
        secondary = secondary[secondary["present_on_admission"]]
    secondary = secondary.sort_values("encounter_key", kind="stable")
    stays, starts = np.unique(secondary["encounter_key"].to_numpy(), return_index=True)
    groups = np.split(secondary["code"].to_numpy(dtype=object), starts[1:])
    lists = dict(zip(stays.tolist(), (list(g) for g in groups), strict=True))
    return pd.Series([lists.get(key, []) for key in keys.tolist()], index=keys.index, dtype=object)


def _medication_codes(
    medications: pd.DataFrame, keys: pd.Series, cutoff: pd.Series
) -> dict[str, pd.Series]:
    """Per stay, the RxNorm codes of the orders placed by its cutoff time, and of the home
    medicines among them (lists, empty when none)."""
    limit = medications["encounter_key"].map(pd.Series(cutoff.to_numpy(), index=keys.to_numpy()))
    placed = medications[medications["ordered_at"] <= limit]
    placed = placed.sort_values(["encounter_key", "ordered_at"], kind="stable")
    lists = {}
    for name, rows in (
        ("medication_codes", placed),
        ("home_medication_codes", placed[placed["source"] == cases.HOME]),
    ):
        stays, starts = np.unique(rows["encounter_key"].to_numpy(), return_index=True)
        groups = np.split(rows["rxnorm_code"].to_numpy(dtype=object), starts[1:])
        found = dict(zip(stays.tolist(), (list(g) for g in groups), strict=True))
        lists[name] = pd.Series(
            [found.get(key, []) for key in keys.tolist()], index=keys.index, dtype=object
        )
    return lists


def _first_within(
    frame: pd.DataFrame, time: str, cutoff: pd.Series, keys: pd.Series
) -> pd.DataFrame:
    """The earliest row of each stay recorded at or before the stay's cutoff time."""
    limit = frame["encounter_key"].map(pd.Series(cutoff.to_numpy(), index=keys.to_numpy()))
    early = frame[frame[time] <= limit].sort_values(time, kind="stable")
    return early.groupby("encounter_key").first()


def _labs_at(labs: pd.DataFrame, cutoff: pd.Series, keys: pd.Series, which: str) -> pd.DataFrame:
    """Per stay and test, the first (``which='first'``) or last lab value drawn by the cutoff."""
    limit = labs["encounter_key"].map(pd.Series(cutoff.to_numpy(), index=keys.to_numpy()))
    drawn = labs[labs["drawn_at"] <= limit].sort_values("drawn_at", kind="stable")
    values = drawn.groupby(["encounter_key", "test"])["value"].agg(which).unstack()
    return values.reindex(columns=list(vocabulary.LAB_TESTS))


def admission_cases(clean: dict[str, pd.DataFrame], config: FeaturesConfig) -> pd.DataFrame:
    """One row per stay with what is recorded by admission + ``admission_hours``."""
    e = clean["encounters"]
    facility_type = e["facility_id"].map(clean["facilities"].set_index("facility_id")["type"])
    payer = e["patient_key"].map(clean["patients"].set_index("patient_key")["payer"])
    cutoff = e["admitted_at"] + pd.Timedelta(hours=config.tasks.admission_hours)
    vitals = _first_within(clean["vitals"], "observed_at", cutoff, e["encounter_key"]).reindex(
        e["encounter_key"]
    )
    labs = _labs_at(clean["labs"], cutoff, e["encounter_key"], "first").reindex(e["encounter_key"])
    stays = e[
        [
            "encounter_key",
            "patient_key",
            "admitted_at",
            "discharged_at",
            "age_years",
            "admission_type",
            "admission_source",
            "unit",
            "facility_id",
            "primary_dx_code",
            "treatment_protocol",
        ]
    ].assign(
        sex=e["patient_key"].map(clean["patients"].set_index("patient_key")["sex"]),
        payer=payer,
        facility_type=facility_type,
        comorbidity_codes=_codes(
            clean["diagnoses"], e["encounter_key"], present_on_admission_only=True
        ),
        prediction_time=cutoff,
    )
    stays = stays.assign(**_medication_codes(clean["medications"], e["encounter_key"], cutoff))
    stays = pd.concat([stays, _history(e, clean["ed_visits"], config)], axis=1)
    for sign in (*cases.VITAL_SIGNS, "on_oxygen", "consciousness"):
        stays[f"admit_{sign}"] = vitals[sign].to_numpy()
    for test in vocabulary.LAB_TESTS:
        stays[f"admit_{test}"] = labs[test].to_numpy()
    return stays


def discharge_cases(clean: dict[str, pd.DataFrame], admission: pd.DataFrame) -> pd.DataFrame:
    """``admission_cases`` completed with what is known at discharge."""
    e = clean["encounters"]
    keys = e["encounter_key"]
    labs = _labs_at(clean["labs"], e["discharged_at"], keys, "last").reindex(keys)
    procedures = clean["procedures"]
    performed = procedures[
        procedures["performed_at"]
        <= procedures["encounter_key"].map(e.set_index("encounter_key")["discharged_at"])
    ]
    stays = admission.assign(
        comorbidity_codes=_codes(clean["diagnoses"], keys, present_on_admission_only=False),
        **_medication_codes(clean["medications"], keys, e["discharged_at"]),
        los_days=((e["discharged_at"] - e["admitted_at"]).dt.total_seconds() / 86400).to_numpy(),
        icu_days=e["icu_days"].to_numpy(),
        discharge_disposition=e["discharge_disposition"].to_numpy(),
        procedure_count=keys.map(performed.groupby("encounter_key").size()).fillna(0).to_numpy(),
        complication=e["complication"].to_numpy(),
        deteriorated=e["deterioration_event"].isin(DETERIORATED_ALIVE).to_numpy(),
        prediction_time=e["discharged_at"].to_numpy(),
    )
    for test in cases.DISCHARGE_LABS:
        stays[f"discharge_{test}"] = labs[test].to_numpy()
    return stays


# --------------------------------------------------------------------------------------------
# Labels, splits and the tables


def next_unplanned_admission(encounters: pd.DataFrame) -> pd.DataFrame:
    """For every stay, the patient's next unplanned admission after it (``admitted_at``, and
    ``encounter_key`` when the stays have one; missing when there is none), in the order of
    ``encounters``."""
    ordered = encounters.sort_values(["patient_key", "admitted_at"], kind="stable")
    unplanned = ordered["admission_type"].isin(vocabulary.UNPLANNED_ADMISSION_TYPES)
    patient = ordered["patient_key"]
    following = {
        column: ordered[column].where(unplanned).groupby(patient).shift(-1).groupby(patient).bfill()
        for column in ("admitted_at", "encounter_key")
        if column in ordered
    }
    return pd.DataFrame(following).reindex(encounters.index)


def readmission_labels(
    encounters: pd.DataFrame, windows: list[int], data_end: pd.Timestamp
) -> pd.DataFrame:
    """Unplanned readmission within each window of discharge: missing without full follow-up, and
    for stays that are not index stays (ended by death or by a transfer to another hospital)."""
    ordered = encounters.sort_values(["patient_key", "admitted_at"], kind="stable")
    index_stay = ~ordered["discharge_disposition"].isin([vocabulary.EXPIRED, "transfer"])
    next_unplanned = next_unplanned_admission(ordered)["admitted_at"]
    gap = (next_unplanned - ordered["discharged_at"]).dt.total_seconds() / 86400
    labels = {}
    for window in windows:
        followed = ordered["discharged_at"] + pd.Timedelta(days=window) <= data_end
        labels[f"readmitted_{window}d"] = (
            (gap <= window).astype("float64").where(followed & index_stay)
        )
    return pd.DataFrame(labels).reindex(encounters.index)


def assign_splits(
    patient_key: pd.Series,
    prediction_time: pd.Series,
    data_start: pd.Timestamp,
    data_end: pd.Timestamp,
    config: FeaturesConfig,
) -> pd.Series:
    """train / validation / test by patient (keyed hash) and time (test: latest months), or NA."""
    s = config.splits
    # The key is a keyed hash: its leading digits are uniform on [0, 1).
    unique = patient_key.dropna().unique()
    share = patient_key.map(
        dict(zip(unique, (int(k[:8], 16) / 16**8 for k in unique), strict=True))
    )
    test_patient = share < s.test_patient_share
    validation_patient = ~test_patient & (
        share < s.test_patient_share + (1 - s.test_patient_share) * s.validation_patient_share
    )
    test_start = data_end - pd.DateOffset(months=s.test_months)
    warmed_up = prediction_time >= data_start + pd.Timedelta(days=s.warm_up_days)
    in_test_period = prediction_time >= test_start
    split = pd.Series(pd.NA, index=patient_key.index, dtype="string")
    split[test_patient & in_test_period] = "test"
    split[~test_patient & ~in_test_period & warmed_up & validation_patient] = "validation"
    split[~test_patient & ~in_test_period & warmed_up & ~validation_patient] = "train"
    return split


def age_bands(age_years: pd.Series) -> pd.Series:
    """Each age's band of ``AGE_BANDS`` (missing under 18)."""
    bands = pd.Series(pd.NA, index=age_years.index, dtype="string")
    for low, high, name in AGE_BANDS:
        bands[(age_years >= low) & (age_years < high)] = name
    return bands


def _groups(points: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    race = points["patient_key"].map(patients.set_index("patient_key")["race"])
    return pd.DataFrame(
        {
            "group_sex": points["sex"],
            "group_age_band": age_bands(points["age_years"]),
            "group_race": race,
            "group_payer": points["payer"],
        },
        index=points.index,
    )


def diagnosis_group(table: pd.DataFrame) -> pd.Series:
    """Each row's principal-diagnosis group, from its one-hot ``dx_group_*`` columns."""
    dx_columns = [c for c in table.columns if c.startswith("dx_group_")]
    return table[dx_columns].idxmax(axis=1)


def group_totals(table: pd.DataFrame, task: TaskConfig) -> pd.DataFrame:
    """Sum and count of the target per diagnosis group in the training split: what the group
    means need, added up over partitions."""
    train = table[table["split"] == "train"]
    return train[task.target].groupby(diagnosis_group(train)).agg(["sum", "count"])


def with_group_means(
    table: pd.DataFrame, task: TaskConfig, config: FeaturesConfig, totals: pd.DataFrame
) -> pd.DataFrame:
    """``table`` with its ``baseline_*`` columns: the mean target of the row's principal-diagnosis
    group in the training split (else the overall training mean), from ``group_totals``."""
    r = roles(task, config)
    means = totals["sum"] / totals["count"]
    overall = totals["sum"].sum() / max(totals["count"].sum(), 1)
    for baseline in [b for b in r.baselines if b.startswith(GROUP_MEAN_PREFIX)]:
        table[baseline] = diagnosis_group(table).map(means).fillna(overall)
    return table[r.columns]


def stay_outcomes(
    encounters: pd.DataFrame,
    oracle_stays: pd.DataFrame,
    config: FeaturesConfig,
    data_end: pd.Timestamp,
) -> pd.DataFrame:
    """Every stay-level label a task may declare, and every oracle value (``oracle_<name>``),
    aligned with ``encounters``; follow-up ends at ``data_end``."""
    t = config.tasks
    los_days = (encounters["discharged_at"] - encounters["admitted_at"]).dt.total_seconds() / 86400
    outcomes = pd.concat(
        [
            pd.DataFrame(
                {
                    "los_days": los_days,
                    f"long_stay_{t.long_stay_days:g}d": (los_days > t.long_stay_days).astype(
                        "int8"
                    ),
                    "total_cost_usd": encounters["total_cost_usd"],
                    "died_in_hospital": (
                        encounters["discharge_disposition"] == vocabulary.EXPIRED
                    ).astype("int8"),
                },
                index=encounters.index,
            ),
            readmission_labels(encounters, t.readmission_windows_days, data_end),
        ],
        axis=1,
    )
    truth = oracle_stays.set_index("encounter_key").add_prefix("oracle_")
    known = truth.reindex(encounters["encounter_key"]).set_axis(encounters.index)
    return pd.concat([outcomes, known], axis=1)


def prediction_points(
    case: str,
    clean: dict[str, pd.DataFrame],
    oracle: dict[str, pd.DataFrame],
    config: FeaturesConfig,
    kb: KnowledgeBase,
    admission: pd.DataFrame,
    outcomes: pd.DataFrame,
) -> pd.DataFrame:
    """One case type's prediction points: keys, features, every label and oracle value that can
    be known of them (``outcomes``: ``stay_outcomes`` for the stay-level ones), and the subgroup
    columns."""
    e = clean["encounters"]
    if case == cases.WARD:
        return _ward_points(clean, oracle["vitals"], config, kb, admission)
    if case == cases.ADMISSION:
        stays, features = admission, cases.admission_features(admission, kb)
        # Only the stays still in hospital when the prediction is made.
        present = (e["discharged_at"] > admission["prediction_time"]).to_numpy()
    else:
        stays = discharge_cases(clean, admission)
        features, present = cases.discharge_features(stays, kb), np.ones(len(stays), dtype=bool)
    # At discharge the length of stay is known: a feature then, not a label.
    outcomes = outcomes.drop(columns=[c for c in outcomes if c in features])
    points = pd.concat([stays[KEYS], features, outcomes, _groups(stays, clean["patients"])], axis=1)
    return points[present]


def task_table(
    points: pd.DataFrame,
    task: TaskConfig,
    data_start: pd.Timestamp,
    data_end: pd.Timestamp,
    config: FeaturesConfig,
) -> pd.DataFrame:
    """A task's table from its case type's points: the rows whose target is known and that fall
    in a split, with the columns of its roles but the group-mean baselines (``with_group_means``
    adds them: they need every partition's training rows)."""
    r = roles(task, config)
    derived = [b for b in r.baselines if b.startswith(GROUP_MEAN_PREFIX)]
    if missing := [c for c in r.columns if c not in points and c not in [*derived, r.split]]:
        others = [c for c in points if c not in [*r.features, *KEYS, *GROUPS]]
        raise ValueError(
            f"configs/tasks: {task.table} declares {missing}, which the {task.case} points do not "
            f"have (besides the features they have: {others})"
        )
    table = points[points[task.target].notna()].copy()
    table["split"] = assign_splits(
        table["patient_key"], table["prediction_time"], data_start, data_end, config
    )
    table = table[table["split"].notna()].reset_index(drop=True)
    return table[[c for c in r.columns if c not in derived]]


def partition_tables(
    clean: dict[str, pd.DataFrame],
    oracle: dict[str, pd.DataFrame],
    config: FeaturesConfig,
    kb: KnowledgeBase,
    task_configs: Mapping[str, TaskConfig],
    data_span: tuple[pd.Timestamp, pd.Timestamp],
) -> dict[str, pd.DataFrame]:
    """Every declared task's table from one partition's clean and oracle tables, by table name,
    without the group-mean baselines. ``oracle`` holds the generator's values keyed by
    encounter_key (``encounters``) and by encounter_key and observed_at (``vitals``);
    ``data_span`` is the first day and the last admission of the whole world."""
    admission = admission_cases(clean, config)
    outcomes = stay_outcomes(clean["encounters"], oracle["encounters"], config, data_span[1])
    points: dict[str, pd.DataFrame] = {}
    tables = {}
    for task in task_configs.values():
        if task.case not in points:
            points[task.case] = prediction_points(
                task.case, clean, oracle, config, kb, admission, outcomes
            )
        tables[task.table] = task_table(points[task.case], task, *data_span, config)
    return tables


def build_tables(
    clean: dict[str, pd.DataFrame],
    oracle: dict[str, pd.DataFrame],
    config: FeaturesConfig,
    kb: KnowledgeBase,
    task_configs: Mapping[str, TaskConfig],
) -> dict[str, pd.DataFrame]:
    """Every declared task's whole table from a world held in memory as one partition."""
    span = data_span(clean["encounters"])
    tables = partition_tables(clean, oracle, config, kb, task_configs, span)
    return {
        task.table: with_group_means(
            tables[task.table], task, config, group_totals(tables[task.table], task)
        )
        for task in task_configs.values()
    }


def data_span(encounters: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The world's first day and its last admission: where the splits' periods start and end."""
    return encounters["admitted_at"].min().normalize(), encounters["admitted_at"].max()


def ward_observations(
    clean: dict[str, pd.DataFrame],
    config: FeaturesConfig,
    kb: KnowledgeBase,
    admission: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Ward observations before the stay's first deterioration event, their stays and features."""
    e = clean["encounters"]
    ward = (e["unit"] != "icu").to_numpy()
    columns = ["encounter_key", "patient_key", "admitted_at", "age_years", "sex", "payer",
               "admission_type", "primary_dx_code", "comorbidity_codes"]  # fmt: skip
    stays = admission.loc[ward, columns].rename(columns={"encounter_key": "stay_key"})
    event_at = e.loc[ward].set_index("encounter_key")["deterioration_at"]
    vitals = clean["vitals"][clean["vitals"]["encounter_key"].isin(stays["stay_key"])]
    before_event = vitals["encounter_key"].map(event_at)
    vitals = vitals[before_event.isna() | (vitals["observed_at"] < before_event)]
    observations = vitals.rename(columns={"encounter_key": "stay_key"}).reset_index(drop=True)
    labs = clean["labs"].rename(columns={"encounter_key": "stay_key"})
    labs = labs[labs["stay_key"].isin(stays["stay_key"])]
    medications = clean["medications"].rename(columns={"encounter_key": "stay_key"})
    medications = medications[medications["stay_key"].isin(stays["stay_key"])]
    features = cases.ward_features(
        stays, observations, labs, medications, config.tasks.trend_hours, kb
    )
    return observations, stays, features


def _ward_points(
    clean: dict[str, pd.DataFrame],
    oracle_vitals: pd.DataFrame,
    config: FeaturesConfig,
    kb: KnowledgeBase,
    admission: pd.DataFrame,
) -> pd.DataFrame:
    t = config.tasks
    observations, stays, features = ward_observations(clean, config, kb, admission)
    event_at = clean["encounters"].set_index("encounter_key")["deterioration_at"]
    ahead = observations["stay_key"].map(event_at) - observations["observed_at"]
    window = pd.Timedelta(hours=t.deterioration_window_hours)
    label = ((ahead > pd.Timedelta(0)) & (ahead <= window)).astype("int8")
    per_observation = stays.set_index("stay_key").reindex(observations["stay_key"]).reset_index()
    # The generator's risk is for a 24-hour window; another window has no oracle.
    oracle = oracle_vitals.set_index(["encounter_key", "observed_at"])["p_deterioration_24h"]
    if t.deterioration_window_hours != ORACLE_WINDOW_HOURS:
        oracle = oracle * np.nan
    lookup = pd.MultiIndex.from_arrays([observations["stay_key"], observations["observed_at"]])
    keys = pd.DataFrame(
        {
            "encounter_key": observations["stay_key"],
            "patient_key": per_observation["patient_key"],
            "prediction_time": observations["observed_at"],
        }
    )
    outcome = pd.DataFrame(
        {
            f"deteriorated_{t.deterioration_window_hours}h": label,
            f"oracle_p_deterioration_{t.deterioration_window_hours}h": oracle.reindex(
                lookup
            ).to_numpy(),
        }
    )
    groups = _groups(per_observation, clean["patients"])
    return pd.concat([keys, features, outcome, groups], axis=1)


# --------------------------------------------------------------------------------------------
# I/O


ORACLE_TABLES = ["oracle/encounters", "oracle/vitals"]


def load_oracle(split: partitions.Split, part: int, key: bytes) -> dict[str, pd.DataFrame]:
    """One partition of the generator's oracle tables, keyed by the clean tables' pseudonyms."""
    encounters = split.read("oracle/encounters", part).drop(columns=partitions.SOURCE_ROW)
    encounters.insert(
        0, "encounter_key", deidentify.pseudonyms(encounters.pop("encounter_id"), "encounter", key)
    )
    vitals = split.read(
        "oracle/vitals", part, columns=["encounter_id", "observed_at", "p_deterioration_24h"]
    ).drop(columns=partitions.SOURCE_ROW)
    vitals.insert(
        0, "encounter_key", deidentify.pseudonyms(vitals.pop("encounter_id"), "encounter", key)
    )
    vitals["observed_at"] = vitals["observed_at"].astype("datetime64[ns]")
    return {"encounters": encounters, "vitals": vitals}


def run_build(
    settings: Settings,
    data_dir: Path,
    key_root: Path = Path(),
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, dict]:
    """Write data/features partition by partition (the clean tables' partitions); return the
    manifest: per table, rows by split, label means and column roles."""
    config, data_dir = settings.features, data_dir.resolve()
    clean_dir = data_dir / "clean"
    if not (clean_dir / "encounters.parquet").exists():
        raise FileNotFoundError(f"no clean tables in {clean_dir}: run `make etl` first")
    n = partitions.part_count(clean_dir / "encounters.parquet")
    split = partitions.split_world(
        data_dir, ORACLE_TABLES, n, engine.step_progress(progress, "split by patient")
    )
    key = deidentify.load_key(config.etl, key_root)
    declared = {name: settings.tasks[name] for name in settings.task_names}
    with partitions.duckdb_connection(settings.engine) as sql:
        first, last = sql.execute(
            "SELECT min(admitted_at), max(admitted_at) FROM read_parquet(?)",
            [str(clean_dir / "encounters.parquet" / "*.parquet")],
        ).fetchone()
    span = (pd.Timestamp(first).normalize(), pd.Timestamp(last))
    staged = partitions.StagedParts(
        data_dir,
        "features",
        {
            "clean": {str(p): partitions.file_stamp(p) for p in clean_dir.rglob("*.parquet")},
            "oracle": split.identity,
            "features": config.model_dump(mode="json"),
            "medications": settings.medications.model_dump(mode="json"),
            "formulary": {
                name: drug.model_dump(mode="json")
                for name, drug in settings.data_gen.medications.formulary.items()
            },
            "tasks": {name: task.model_dump(mode="json") for name, task in declared.items()},
            "key": deidentify.key_id(key),
        },
    )
    kb = KnowledgeBase.of(settings)
    points = functools.partial(
        _points_partition, clean_dir, split, staged, config, kb, declared, span, key, n == 1
    )
    engine.map_partitions(
        points, staged.todo(n, "points"), settings.engine, "features",
        engine.step_progress(progress, "partitions"),
    )  # fmt: skip
    done = [staged.result(part, "points") for part in range(n)]
    totals = {
        task.table: _added([pd.DataFrame(d[task.table]["totals"]) for d in done])
        for task in declared.values()
    }
    finish = functools.partial(_baselines_partition, staged, config, declared, totals)
    engine.map_partitions(
        finish, staged.todo(n, "tables"), settings.engine, "features-baselines",
        engine.step_progress(progress, "group means"),
    )  # fmt: skip
    manifest = {}
    for task in declared.values():
        counts = _added([pd.Series(d[task.table]["rows"], dtype="int64") for d in done])
        sums = _added([pd.Series(d[task.table]["label_sums"], dtype="float64") for d in done])
        labelled = _added([pd.Series(d[task.table]["label_counts"], dtype="int64") for d in done])
        manifest[task.table] = {
            "rows": {split: int(counts[split]) for split in sorted(counts.index)},
            "label_mean": {label: float(sums[label] / labelled[label]) for label in sums.index},
            "roles": dataclasses.asdict(roles(task, config)),
        }
    (staged.folder / FEATURES_DIR / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    staged.publish(FEATURES_DIR, data_dir / FEATURES_DIR)
    staged.discard()
    return manifest


def _points_partition(
    clean_dir: Path,
    split: partitions.Split,
    staged: partitions.StagedParts,
    config: FeaturesConfig,
    kb: KnowledgeBase,
    declared: Mapping[str, TaskConfig],
    span: tuple[pd.Timestamp, pd.Timestamp],
    key: bytes,
    whole_world: bool,
    part: int,
) -> None:
    """One partition's task tables, staged without baselines; its group totals and counts noted.
    A partition that is the whole world knows the group means already: its tables are final."""
    clean = partitions.read_part(clean_dir, part)
    tables = partition_tables(clean, load_oracle(split, part, key), config, kb, declared, span)
    result = {}
    for task in declared.values():
        table, totals = tables[task.table], group_totals(tables[task.table], task)
        if whole_world:
            staged.write(
                FEATURES_DIR, task.table, part, with_group_means(table, task, config, totals)
            )
        else:
            staged.write("points", task.table, part, table)
        labels = table[roles(task, config).labels]
        result[task.table] = {
            "totals": totals.to_dict(),
            "rows": {str(k): int(v) for k, v in table["split"].value_counts().items()},
            "label_sums": labels.sum().to_dict(),
            "label_counts": labels.count().to_dict(),
        }
    staged.complete(part, result, "points")
    if whole_world:
        staged.complete(part, {}, "tables")


def _baselines_partition(
    staged: partitions.StagedParts,
    config: FeaturesConfig,
    declared: Mapping[str, TaskConfig],
    totals: dict[str, pd.DataFrame],
    part: int,
) -> None:
    """One partition's task tables completed with the group means of the whole training split."""
    for task in declared.values():
        table = pd.read_parquet(staged.path("points", task.table, part))
        table = with_group_means(table, task, config, totals[task.table])
        staged.write(FEATURES_DIR, task.table, part, table)
    staged.complete(part, {}, "tables")


def _added(parts: list[pd.DataFrame | pd.Series]) -> pd.DataFrame | pd.Series:
    """Partitions' counts and sums added up, by their index."""
    return pd.concat(parts).groupby(level=0).sum()
