"""The latent-severity Markov chain and the exact probabilities the oracle reports from it.

Each stay walks a five-state chain (stable .. critical), one step per vitals interval. In step j
the first deterioration event happens with the hazard of the current state; otherwise the chain
moves one state up or down with probabilities set by the stay's deterioration-propensity group.
Because the chain is small, the distribution of the first event's step and type, from any
starting state, follows by dynamic programming; the oracle reads its probabilities from these
tables instead of estimating them by simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from configs.data_gen import SEVERITY_STATES, Severity

EVENT_TYPES = ("death", "icu_transfer", "rapid_response")
GROUPS = 3
# A stay's last chain step starts at least this long before discharge, so that an observation taken
# up to half an hour into a step always precedes an event in that step.
STEP_LEAD_HOURS = 0.5


def steps_in_stay(stay_hours: np.ndarray, step_hours: float, max_steps: int) -> np.ndarray:
    """Number of chain steps (and vitals observations) in a stay of the given planned length."""
    steps = np.ceil((stay_hours - STEP_LEAD_HOURS) / step_hours).astype(np.int64)
    return np.clip(steps, 1, max_steps)


@dataclass(frozen=True)
class ChainTables:
    transition: np.ndarray  # [group, state, next state]
    hazard: np.ndarray  # [state]
    type_share: np.ndarray  # [state, event type]
    first_event: (
        np.ndarray
    )  # [group, start state, step, event type]: P(first event at step, of type)

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


def chain_tables(config: Severity, max_steps: int) -> ChainTables:
    k = SEVERITY_STATES
    transition = np.zeros((GROUPS, k, k))
    for g in range(GROUPS):
        up, down = config.up_probability[g], config.down_probability[g]
        for s in range(k):
            p_up = up if s < k - 1 else 0.0
            p_down = down if s > 0 else 0.0
            if s < k - 1:
                transition[g, s, s + 1] = p_up
            if s > 0:
                transition[g, s, s - 1] = p_down
            transition[g, s, s] = 1.0 - p_up - p_down
    hazard = np.asarray(config.event_hazard)
    death = np.asarray(config.death_share)
    icu = (1.0 - death) * np.asarray(config.icu_share)
    type_share = np.stack([death, icu, 1.0 - death - icu], axis=1)

    first_event = np.zeros((GROUPS, k, max_steps, len(EVENT_TYPES)))
    alive = np.broadcast_to(
        np.eye(k), (GROUPS, k, k)
    ).copy()  # [group, start, current]: no event yet
    for j in range(max_steps):
        first_event[:, :, j, :] = np.einsum("gsc,c,ct->gst", alive, hazard, type_share)
        alive = np.einsum("gsc,gcd->gsd", alive * (1.0 - hazard), transition)
    return ChainTables(transition, hazard, type_share, first_event)


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
    """Expected realised stay, ICU days and death risk, integrating the planned stay and the chain.

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
    return StayExpectation(los_days=realised @ w, icu_days=icu_days @ w, p_death=p_death @ w)
