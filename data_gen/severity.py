"""The latent-severity Markov chain and the exact probabilities the oracle reports from it.

Each stay walks a five-state chain (stable .. critical), one step per vitals interval. In step j
the first deterioration event happens with the hazard of the current state; otherwise the chain
moves one state up or down with probabilities set by the stay's deterioration-propensity group.
Because the chain is small, the distribution of the first event's step and type, from any
starting state, follows by dynamic programming; the oracle reads its probabilities from these
tables instead of estimating them by simulation.

A stay whose treatment is delayed (an infection's first antibiotic dose after the bundle's hours)
worsens more often in its first step: the tables hold a second set of groups, ``chain_group``,
whose first transition moves one state up with the extra probability ``delayed_up``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from configs.data_gen import SEVERITY_STATES, Severity

EVENT_TYPES = ("death", "icu_transfer", "rapid_response")
GROUPS = 3  # deterioration-propensity groups; chain groups GROUPS.. are the same, delayed
# A stay's last chain step starts at least this long before discharge, so that an observation taken
# up to half an hour into a step always precedes an event in that step.
STEP_LEAD_HOURS = 0.5


def steps_in_stay(stay_hours: np.ndarray, step_hours: float, max_steps: int) -> np.ndarray:
    """Number of chain steps (and vitals observations) in a stay of the given planned length."""
    steps = np.ceil((stay_hours - STEP_LEAD_HOURS) / step_hours).astype(np.int64)
    return np.clip(steps, 1, max_steps)


def chain_group(det_group: np.ndarray, delayed: np.ndarray | bool) -> np.ndarray:
    """The tables' group of a stay: its propensity group, in the delayed set if delayed."""
    return det_group + GROUPS * np.asarray(delayed, dtype=np.int64)


@dataclass(frozen=True)
class ChainTables:
    transition: np.ndarray  # [group, state, next state]
    first_transition: np.ndarray  # [chain group, state, next state]: the first step's
    hazard: np.ndarray  # [state]
    type_share: np.ndarray  # [state, event type]
    first_event: (
        np.ndarray
    )  # [chain group, start state, step, event type]: P(first event at step, of type)

    @property
    def max_steps(self) -> int:
        return self.first_event.shape[2]

    def cumulative(
        self, event_type: int | None = None, weight: np.ndarray | None = None
    ) -> np.ndarray:
        """[group, start, n]: sum over steps j < n of P(first event at j) * weight[j]."""
        probs = (
            self.first_event.sum(axis=3)
            if event_type is None
            else self.first_event[..., event_type]
        )
        if weight is not None:
            probs = probs * weight
        zero = np.zeros((*probs.shape[:2], 1))
        return np.concatenate([zero, np.cumsum(probs, axis=2)], axis=2)


def _transitions(up: tuple[float, ...], down: tuple[float, ...]) -> np.ndarray:
    """[group, state, next state]: one state up or down, else stay (none above the top state,
    none below the bottom one)."""
    k = SEVERITY_STATES
    transition = np.zeros((len(up), k, k))
    for g, (p_up, p_down) in enumerate(zip(up, down, strict=True)):
        for s in range(k):
            moves_up = p_up if s < k - 1 else 0.0
            moves_down = p_down if s > 0 else 0.0
            if s < k - 1:
                transition[g, s, s + 1] = moves_up
            if s > 0:
                transition[g, s, s - 1] = moves_down
            transition[g, s, s] = 1.0 - moves_up - moves_down
    return transition


def chain_tables(config: Severity, max_steps: int, delayed_up: float = 0.0) -> ChainTables:
    up, down = config.up_probability, config.down_probability
    transition = _transitions(up, down)
    first_transition = np.concatenate(
        [transition, _transitions(tuple(p + delayed_up for p in up), down)]
    )
    later = np.concatenate([transition, transition])
    hazard = np.asarray(config.event_hazard)
    death = np.asarray(config.death_share)
    icu = (1.0 - death) * np.asarray(config.icu_share)
    type_share = np.stack([death, icu, 1.0 - death - icu], axis=1)

    k, n_groups = SEVERITY_STATES, 2 * GROUPS
    first_event = np.zeros((n_groups, k, max_steps, len(EVENT_TYPES)))
    alive = np.broadcast_to(np.eye(k), (n_groups, k, k)).copy()  # [group, start, current]
    for j in range(max_steps):
        first_event[:, :, j, :] = np.einsum("gsc,c,ct->gst", alive, hazard, type_share)
        step = first_transition if j == 0 else later
        alive = np.einsum("gsc,gcd->gsd", alive * (1.0 - hazard), step)
    return ChainTables(transition, first_transition, hazard, type_share, first_event)


def event_within(
    tables: ChainTables, group: np.ndarray, state: np.ndarray, steps: np.ndarray
) -> np.ndarray:
    """P(first event within the next `steps` steps | current state, group)."""
    cumulative = tables.cumulative()
    return cumulative[group, state, np.clip(steps, 0, tables.max_steps)]


def planned_nodes(
    log_mean: np.ndarray,
    sigma: float,
    min_days: float,
    max_days: float,
    step_days: float,
    max_steps: int,
    nodes: int = 32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes of the log-normal planned stay: days and chain steps ([stay, node])
    and the nodes' weights."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    planned = np.clip(np.exp(log_mean[:, None] + sigma * x[None, :]), min_days, max_days)
    return planned, steps_in_stay(planned * 24.0, step_days * 24.0, max_steps), w / w.sum()


@dataclass(frozen=True)
class StayExpectation:
    los_days: np.ndarray
    icu_days: np.ndarray
    p_death: np.ndarray
    p_event: np.ndarray  # any deterioration event within the planned stay


def expected_stay(
    tables: ChainTables,
    group: np.ndarray,
    start_state: np.ndarray,
    log_mean: np.ndarray,
    sigma: float,
    min_days: float,
    max_days: float,
    step_days: float,
    icu_mean_days: float,
    direct_icu_fraction: np.ndarray,
    nodes: int = 32,
) -> StayExpectation:
    """Expected realised stay, ICU days, death and event risk, integrating the planned stay and
    the chain (``group``: the chain group).

    The planned stay is log-normal (clipped); a death ends it at the event's step, an ICU transfer
    adds min(Exp(icu_mean_days), rest of the stay) ICU days, and a direct ICU admission (where
    ``direct_icu_fraction`` > 0) spends that fraction of the stay in ICU. Gauss-Hermite quadrature
    over the planned stay; the chain's terms come from cumulative tables.
    """
    planned, steps, w = planned_nodes(
        log_mean, sigma, min_days, max_days, step_days, tables.max_steps, nodes
    )
    mid = (np.arange(tables.max_steps) + 0.5) * step_days
    death, icu = EVENT_TYPES.index("death"), EVENT_TYPES.index("icu_transfer")

    g, s = group[:, None], start_state[:, None]
    p_death = tables.cumulative(death)[g, s, steps]
    death_time = tables.cumulative(death, mid)[g, s, steps]
    realised = planned - (planned * p_death - death_time)

    # ICU transfer at step j: E[min(D, L - t_j)] = m (1 - exp(-(L - t_j) / m)).
    p_icu = tables.cumulative(icu)[g, s, steps]
    scaled = tables.cumulative(icu, np.exp((mid - mid[-1]) / icu_mean_days))[g, s, steps]
    transfer_days = icu_mean_days * (p_icu - np.exp((mid[-1] - planned) / icu_mean_days) * scaled)
    direct = direct_icu_fraction[:, None]
    icu_days = np.where(direct > 0, direct * realised, transfer_days)
    p_event = tables.cumulative()[g, s, steps]
    return StayExpectation(
        los_days=realised @ w, icu_days=icu_days @ w, p_death=p_death @ w, p_event=p_event @ w
    )
