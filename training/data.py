"""A task's feature table as training reads it: whole in memory, or partition by partition.

A table of up to ``training.scale.in_memory_rows`` rows is read whole, as it always was. A larger
one (a million patients' ward observations) is never held whole: the validation and test splits
are seeded samples of a fixed size, and the rows a final fit needs are read part file by part
file, only the feature and target columns, straight into one preallocated float32 matrix (which
the boosters then quantise; see ``models.fit``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from configs.training import Scale, TaskConfig
from features import partitions

SPLITS = ("train", "validation", "test")


class TrainingDataError(RuntimeError):
    """The feature table a task needs is missing or unusable."""


@dataclass
class TaskData:
    path: Path  # data/features/<table>.parquet: a folder of part files
    roles: dict[str, list[str] | str]
    features: list[str]
    rows: dict[str, int]  # rows per split, from the feature manifest
    target: str
    scale: Scale
    seed: int
    table: pd.DataFrame | None = None  # the whole table, when it is held in memory
    _samples: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def at_scale(self) -> bool:
        return self.table is None

    def split(self, name: str) -> pd.DataFrame:
        """A split's rows: all of them in memory; at scale a seeded sample of the validation or
        test split (``scale.validation_rows``, ``scale.test_rows``) or of the training split (as
        many as the validation sample), every column."""
        if self.table is not None:
            return self.table[self.table["split"] == name]
        if name not in self._samples:
            cap = self.scale.test_rows if name == "test" else self.scale.validation_rows
            self._samples[name] = self._sample(name, cap)
        return self._samples[name]

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[self.features].to_numpy(dtype=np.float32, na_value=np.nan)

    def rows_of(
        self, splits: Sequence[str], limit: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features and target of every row of ``splits`` (in that order), or of a seeded sample
        of ``limit`` rows at scale."""
        if self.table is not None:
            frame = pd.concat([self.split(s) for s in splits])
            return self.matrix(frame), frame[self.target].to_numpy()
        if limit is not None and limit < sum(self.rows[s] for s in splits):
            frame = pd.concat([self._sample(s, limit * self.rows[s] // sum(
                self.rows[t] for t in splits)) for s in splits])  # fmt: skip
            return self.matrix(frame), frame[self.target].to_numpy()
        return self._stream(splits)

    def _parts(self) -> list[Path]:
        return sorted(self.path.glob("*.parquet"))

    def _sample(self, split: str, cap: int) -> pd.DataFrame:
        seed = [self.seed, SPLITS.index(split)]
        return partitions.read_sample(self.path, cap, seed, partitions.split_is(split))

    def _stream(self, splits: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every row of ``splits``, read part by part into one preallocated float32 matrix."""
        total = sum(self.rows[s] for s in splits)
        x = np.empty((total, len(self.features)), dtype=np.float32)
        y = np.empty(total, dtype=np.float64)
        filled = 0
        for split in splits:
            for part in self._parts():
                table = pq.read_table(part, columns=[*self.features, self.target, "split"])
                table = table.filter(pc.equal(table["split"], split))
                n = table.num_rows
                for column, name in enumerate(self.features):
                    x[filled : filled + n, column] = (
                        table[name].to_numpy(zero_copy_only=False).astype(np.float32)
                    )
                y[filled : filled + n] = table[self.target].to_numpy(zero_copy_only=False)
                filled += n
        if filled != total:
            raise TrainingDataError(
                f"{self.path}: {filled:,} rows in {', '.join(splits)} against the manifest's "
                f"{total:,}: run `make features` again"
            )
        return x, y


def load_task_data(
    data_dir: Path, config: TaskConfig, scale: Scale, seed: int
) -> tuple[TaskData, str]:
    """The task's feature table, its column roles, and a fingerprint of both and of the config."""
    folder = data_dir / "features"
    path, manifest_path = folder / f"{config.table}.parquet", folder / "manifest.json"
    if not path.exists() or not manifest_path.exists():
        raise TrainingDataError(f"no feature table {path}: run `make features` first")
    manifest = json.loads(manifest_path.read_text())[config.table]
    roles = manifest["roles"]
    columns = pq.read_schema(next(path.glob("*.parquet"))).names
    for column in [config.target, config.oracle, *config.baselines]:
        if column not in columns:
            raise TrainingDataError(
                f"{path} has no column {column!r} (configs/tasks: {config.table})"
            )
    rows = {split: int(manifest["rows"].get(split, 0)) for split in SPLITS}
    if not all(rows.values()):
        raise TrainingDataError(f"{path} lacks a train, validation or test split")
    data = TaskData(path, roles, list(roles["features"]), rows, config.target, scale, seed)
    if sum(rows.values()) <= scale.in_memory_rows:
        data.table = pd.read_parquet(path)
    fingerprint = hashlib.sha256(
        json.dumps([manifest, config.model_dump(mode="json")], sort_keys=True).encode()
    ).hexdigest()
    return data, fingerprint
