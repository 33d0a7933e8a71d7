"""Where the partitions of a batch stage run: here, on a local Dask cluster, or on a running one.

One code path: a stage hands ``map_partitions`` a function of one partition, and the same function
runs wherever the engine sends it. With ``engine.scheduler_address`` (or $HOSPITAL_DASK_SCHEDULER)
it goes to that Dask scheduler; otherwise to a ``LocalCluster`` of worker processes on this
machine; a world of one partition, with no scheduler named, runs in this process (a cluster would
add only its start-up). Workers read and write the data folder at the same path as the caller: on
another machine it must be a shared volume. A task whose worker dies, or that fails, is tried
``engine.retries`` more times; the partitions that still fail stop the stage, named, once the
others are done.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from configs.engine import SCHEDULER_ADDRESS, SCHEDULER_ENV, EngineConfig

Item = TypeVar("Item")
Result = TypeVar("Result")


class EngineError(RuntimeError):
    """The engine could not run a stage's partitions (no scheduler, or a partition failed)."""


def scheduler_address(engine: EngineConfig) -> str | None:
    """$HOSPITAL_DASK_SCHEDULER if set (checked as the configuration's key is), else the key."""
    address = os.environ.get(SCHEDULER_ENV)
    if address and not re.match(SCHEDULER_ADDRESS, address):
        raise EngineError(
            f"${SCHEDULER_ENV} is {address!r}: a scheduler address is protocol://host:port, "
            "e.g. tcp://127.0.0.1:8786"
        )
    return address or engine.scheduler_address


def step_progress(
    progress: Callable[[str, int, int], None] | None, step: str
) -> Callable[[int, int], None] | None:
    """A stage's ``progress(step, done, total)`` narrowed to one of its steps."""
    return None if progress is None else functools.partial(progress, step)


def map_partitions(
    function: Callable[[Item], Result],
    items: Sequence[Item],
    engine: EngineConfig,
    stage: str,
    progress: Callable[[int, int], None] | None = None,
) -> list[Result]:
    """``function`` applied to every item (a partition), in item order, wherever the engine runs."""
    address = scheduler_address(engine)
    if address is None and len(items) <= 1:
        results = []
        for item in items:
            results.append(function(item))
            if progress:
                progress(len(results), len(items))
        return results
    from distributed import as_completed

    with _client(engine, address, len(items)) as client:
        futures = client.map(
            function,
            items,
            key=[f"{stage}-{index:05d}" for index in range(len(items))],
            retries=engine.retries,
            pure=False,
        )
        failed = []
        for done, future in enumerate(as_completed(futures), start=1):
            if future.status != "finished":
                error = future.exception()
                failed.append(f"partition {futures.index(future)}: {type(error).__name__}: {error}")
            if progress:
                progress(done, len(items))
        if failed:  # the others are done (and kept by their stage): a rerun redoes only these
            raise EngineError(
                f"{stage}: {len(failed)} of {len(items)} partitions failed after "
                f"{engine.retries} retries; " + "; ".join(sorted(failed))
            )
        return client.gather(futures)


@contextmanager
def _client(engine: EngineConfig, address: str | None, n_items: int) -> Iterator[object]:
    from distributed import Client, LocalCluster

    if address is not None:
        try:
            client = Client(address, timeout=engine.connect_timeout_seconds)
        except OSError as error:
            source = SCHEDULER_ENV if os.environ.get(SCHEDULER_ENV) else "engine.scheduler_address"
            raise EngineError(
                f"no Dask scheduler answers at {address} ({source}) within "
                f"{engine.connect_timeout_seconds:g} s: {error}"
            ) from None
        with client:
            yield client
        return
    workers = min(engine.local_workers or os.cpu_count() or 1, n_items)
    memory = f"{engine.worker_memory_gb}GiB" if engine.worker_memory_gb else 0
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory,
            # The scheduler always serves HTTP; on any free port, so that two local clusters
            # (a build and the dashboard's) never contend for the default one.
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
