"""The world split by patient: partitions that each hold every record of their patients.

After generation every stage works partition by partition, so that its memory is bounded by the
partition (``engine.partition_patients``), not by the world. A patient's partition is a hash of
their identifier; stays follow their patient, and vitals, labs, diagnoses, procedures and the
oracle's values follow their stay, so that history, readmission labels and trends stay exact
inside a partition. A world of one partition is read from the raw files themselves.

A stage's output table is a folder of part files (``data/clean/vitals.parquet/part-00003.parquet``)
which pandas and pyarrow (``pd.read_parquet(folder)``), Dask and DuckDB
(``read_parquet('<folder>/*.parquet')``) read as one table. Parts are staged in a hidden folder
beside the output, each written under a temporary name and renamed, with a marker written last;
a killed run resumes from the parts whose marker exists, and the output is swapped into place only
when every part is done.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from configs.engine import EngineConfig
from features.io import atomic_folder, replace_folder, write_table

PART = "part-{:05d}.parquet"
# Each row's position in its raw table: quarantined rows are reported by it.
SOURCE_ROW = "source_row"
SPLIT_DIR = "partitions"
# How each partitioned table finds its patient: by its own patient identifier, or by its stay's
# patient (an ED visit by the stay it led to, if any, so that the two meet in one partition).
BY_PATIENT, BY_STAY = "patient_id", "encounter_id"
ROUTES = {
    "raw/patients": BY_PATIENT,
    "raw/encounters": BY_PATIENT,
    "raw/ed_visits": BY_STAY,
    "raw/diagnoses": BY_STAY,
    "raw/procedures": BY_STAY,
    "raw/claims": BY_STAY,
    "raw/medications": BY_STAY,
    "raw/vitals": BY_STAY,
    "raw/labs": BY_STAY,
    "oracle/encounters": BY_STAY,
    "oracle/vitals": BY_STAY,
}
BATCH_ROWS = 262_144  # rows read at a time while splitting: memory stays flat whatever the table


def duckdb_connection(engine: EngineConfig) -> duckdb.DuckDBPyConnection:
    """DuckDB for the global passes over partitioned files, within the configured memory."""
    connection = duckdb.connect()
    connection.execute(f"SET memory_limit = '{engine.duckdb_memory_gb}GB'")
    return connection


def partition_count(n_patients: int, engine: EngineConfig) -> int:
    return max(1, math.ceil(n_patients / engine.partition_patients))


def patient_partition(ids: pd.Series, n: int) -> np.ndarray:
    """Each identifier's partition (0 to n - 1) by a 64-bit mix (splitmix64) of its integer value;
    a missing or unreadable identifier falls in partition 0."""
    numbers = pd.to_numeric(ids, errors="coerce")
    valid = numbers.notna().to_numpy() & np.isfinite(numbers.to_numpy(dtype="float64"))
    x = np.zeros(len(ids), dtype=np.uint64)
    x[valid] = numbers.to_numpy(dtype="float64")[valid].astype(np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return np.where(valid, x % np.uint64(n), 0).astype(np.int64)


@dataclasses.dataclass(frozen=True)
class Split:
    """Where each partition of each table lies: ``folder`` holds the split tables, or is None
    when the world is one partition and the source files are read as they are."""

    n: int
    sources: dict[str, Path]  # "raw/vitals" -> data/raw/vitals.parquet
    folder: Path | None
    identity: dict  # per table: the partition count, and its source's and the stays' file stamps

    def path(self, table: str, part: int) -> Path:
        if self.folder is None:
            return self.sources[table]
        return self.folder / f"{table}.parquet" / PART.format(part)

    def read(self, table: str, part: int, columns: list[str] | None = None) -> pd.DataFrame:
        """One partition of a table, with its rows' positions in the source (``source_row``)."""
        if self.folder is None:
            frame = pd.read_parquet(self.path(table, part), columns=columns)
            return frame.assign(**{SOURCE_ROW: np.arange(len(frame), dtype=np.int64)})
        wanted = None if columns is None else [*columns, SOURCE_ROW]
        return pd.read_parquet(self.path(table, part), columns=wanted)


def split_world(
    data_dir: Path,
    tables: list[str],
    n: int,
    progress: Callable[[int, int], None] | None = None,
) -> Split:
    """``tables`` ("raw/vitals", "oracle/encounters", ...) of ``data_dir`` in ``n`` patient
    partitions: split under data/partitions, each table once for its source and ``n``."""
    data_dir = data_dir.resolve()
    sources = {table: data_dir / f"{table}.parquet" for table in tables}
    if n == 1:
        return Split(1, sources, None, {t: file_stamp(p) for t, p in sources.items()})
    stays = data_dir / "raw" / "encounters.parquet"  # how rows find their stay's patient
    identities = {
        table: {"partitions": n, "source": file_stamp(path), "stays": file_stamp(stays)}
        for table, path in sources.items()
    }
    folder = data_dir / SPLIT_DIR
    stale = [t for t in tables if _recorded(folder / f"{t}.json") != identities[t]]
    routes = _stay_routes(stays, n) if any(ROUTES[t] == BY_STAY for t in stale) else None
    for done, table in enumerate(stale, start=1):
        target = folder / f"{table}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_folder(target) as staging:
            _split_table(sources[table], staging, n, ROUTES[table], routes)
        (folder / f"{table}.json").write_text(json.dumps(identities[table]) + "\n")
        if progress:
            progress(done, len(stale))
    return Split(n, sources, folder, identities)


def _recorded(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _stay_routes(stays: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The stays' identifiers, sorted, and their patients' partitions (16 bytes a stay)."""
    frame = pd.read_parquet(stays, columns=["encounter_id", "patient_id"])
    frame = frame.assign(stay=pd.to_numeric(frame["encounter_id"], errors="coerce"))
    frame = frame.dropna(subset=["stay"]).drop_duplicates("stay", keep="first").sort_values("stay")
    return frame["stay"].to_numpy(dtype="float64"), patient_partition(frame["patient_id"], n)


def _split_table(
    source: Path, target: Path, n: int, route: str, routes: tuple[np.ndarray, np.ndarray] | None
) -> None:
    file = pq.ParquetFile(source)
    schema = file.schema_arrow.append(pa.field(SOURCE_ROW, pa.int64()))
    writers = [pq.ParquetWriter(target / PART.format(p), schema, compression="zstd") for p in
               range(n)]  # fmt: skip
    try:
        offset = 0
        for batch in file.iter_batches(batch_size=BATCH_ROWS):
            keys = batch.column(route).to_pandas()
            # A row whose stay is not in the world goes by its patient if it names one.
            fallback = (
                batch.column(BY_PATIENT).to_pandas() if BY_PATIENT in batch.schema.names else keys
            )
            if route == BY_PATIENT:
                parts = patient_partition(keys, n)
            else:
                parts = _stay_partition(keys, fallback, n, *routes)
            rows = pa.array(np.arange(offset, offset + batch.num_rows, dtype=np.int64))
            table = pa.Table.from_batches([batch]).append_column(SOURCE_ROW, rows)
            for part in np.unique(parts).tolist():
                writers[part].write_table(table.filter(pa.array(parts == part)))
            offset += batch.num_rows
    finally:
        for writer in writers:
            writer.close()


def _stay_partition(
    keys: pd.Series, fallback: pd.Series, n: int, stay_ids: np.ndarray, stay_parts: np.ndarray
) -> np.ndarray:
    """The partition of each row's stay's patient; a row whose stay is not in the world goes by
    ``fallback`` (its patient, or else its stay identifier: it is an orphan wherever it lies)."""
    if len(stay_ids) == 0:
        return patient_partition(fallback, n)
    numbers = pd.to_numeric(keys, errors="coerce").to_numpy(dtype="float64")
    at = np.minimum(np.searchsorted(stay_ids, numbers), len(stay_ids) - 1)
    known = stay_ids[at] == numbers
    return np.where(known, stay_parts[at], patient_partition(fallback, n))


def file_stamp(path: Path) -> list[int]:
    """Size and modification time: what tells a file rewritten since it was last read."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def part_count(folder: Path) -> int:
    """How many partitions a partitioned table has."""
    return len(list(folder.glob("*.parquet")))


def read_part(folder: Path, part: int) -> dict[str, pd.DataFrame]:
    """One partition of every table of a stage's folder (data/clean), by table name; a table of
    one part (the facilities) is whole in every partition."""
    tables = {}
    for path in sorted(folder.glob("*.parquet")):
        whole = part_count(path) == 1
        tables[path.stem] = pd.read_parquet(path / PART.format(0 if whole else part))
    return tables


def read_sample(
    folder: Path,
    cap: int | None,
    seed: int | list[int],
    where: tuple[str, Callable[[pa.ChunkedArray], pa.ChunkedArray]] | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """About ``cap`` rows (at most all; every one for None) of a partitioned table, of the rows
    whose ``where`` column passes its test if given, every part file sampled at the same seeded
    rate: one part in memory at a time, never the whole table; ``columns`` only, if given."""
    parts = sorted(folder.glob("*.parquet"))

    def kept(table: pa.Table) -> pa.ChunkedArray | None:
        return None if where is None else where[1](table[where[0]])

    if where is None:
        total = sum(pq.ParquetFile(part).metadata.num_rows for part in parts)
    else:
        total = sum(
            pc.sum(kept(pq.read_table(part, columns=[where[0]]))).as_py() or 0 for part in parts
        )
    share = 1.0 if cap is None else min(1.0, cap / max(total, 1))
    rng = np.random.default_rng(seed)
    # The filter's column is read too, then dropped.
    read = None if columns is None else list(dict.fromkeys([*columns, *(where or ())[:1]]))
    pieces = []
    for part in parts:
        table = pq.read_table(part, columns=read)
        if where is not None:
            table = table.filter(kept(table))
        table = table.filter(rng.random(table.num_rows) < share)
        pieces.append((table if columns is None else table.select(columns)).to_pandas())
    return pd.concat(pieces, ignore_index=True)


def split_is(name: str) -> tuple[str, Callable[[pa.ChunkedArray], pa.ChunkedArray]]:
    """A ``read_sample`` filter: the rows of one split of a feature table."""
    return "split", lambda column: pc.equal(column, name)


def predicted_from(
    start: pd.Timestamp,
) -> tuple[str, Callable[[pa.ChunkedArray], pa.ChunkedArray]]:
    """A ``read_sample`` filter: the prediction points from ``start`` on (a generated period's
    own, not its warm-up history's)."""
    at = pa.scalar(pd.Timestamp(start).to_pydatetime())
    return "prediction_time", lambda column: pc.greater_equal(column, at)


# --------------------------------------------------------------------------------------------
# A stage's parts: staged, resumable, published whole


class StagedParts:
    """The part files of one stage's run, kept across a killed run so that the next one resumes.

    ``identity`` describes the inputs (configuration, source files, partition count): parts
    staged under another identity are discarded. A stage of several steps marks each step of a
    part done separately.
    """

    def __init__(self, data_dir: Path, stage: str, identity: dict) -> None:
        self.folder = data_dir.resolve() / f".{stage}-parts"
        recorded = self.folder / "identity.json"
        text = json.dumps(identity, sort_keys=True, default=str)
        if not recorded.exists() or recorded.read_text() != text:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True)
            recorded.write_text(text)

    def _marker(self, part: int, step: str) -> Path:
        return self.folder / "done" / step / f"{part:05d}.json"

    def result(self, part: int, step: str = "done") -> dict | None:
        """What a completed step of a part returned, or None if it has not completed."""
        path = self._marker(part, step)
        return json.loads(path.read_text()) if path.exists() else None

    def todo(self, n: int, step: str = "done") -> list[int]:
        return [part for part in range(n) if not self._marker(part, step).exists()]

    def path(self, group: str, table: str, part: int) -> Path:
        return self.folder / group / f"{table}.parquet" / PART.format(part)

    def write(self, group: str, table: str, part: int, frame: pd.DataFrame) -> None:
        path = self.path(group, table, part)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.tmp")
        write_table(frame, partial)
        partial.replace(path)

    def complete(self, part: int, result: dict, step: str = "done") -> None:
        """Mark a step of a part done (after its tables are written), with its small result."""
        marker = self._marker(part, step)
        marker.parent.mkdir(parents=True, exist_ok=True)
        partial = marker.with_suffix(".tmp")
        partial.write_text(json.dumps(result))
        partial.replace(marker)

    def publish(self, group: str, target: Path) -> None:
        """Replace ``target`` by the staged folder ``group`` (atomically, by renames)."""
        replace_folder(self.folder / group, target)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
