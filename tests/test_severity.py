"""The severity chain's exact tables agree with simulating the chain."""

from __future__ import annotations

import numpy as np
import pytest

from configs import load_settings
from data_gen import severity


@pytest.fixture(scope="module")
def tables():
    return severity.chain_tables(load_settings("small").data_gen.severity, max_steps=60)


def test_first_event_probabilities_are_a_sub_distribution(tables):
    total = tables.first_event.sum(axis=(2, 3))
    assert (total > 0).all()
    assert (total <= 1 + 1e-12).all()
    assert np.allclose(tables.type_share.sum(axis=1), 1)


def test_higher_states_and_groups_deteriorate_more(tables):
    within_day = severity.event_within(
        tables, np.repeat(np.arange(3), 5), np.tile(np.arange(5), 3), np.full(15, 6)
    )
    by_group_state = within_day.reshape(3, 5)
    assert (np.diff(by_group_state, axis=1) > 0).all()
    assert (np.diff(by_group_state, axis=0) > 0).all()


@pytest.mark.parametrize(("group", "start"), [(0, 0), (1, 2), (2, 1)])
def test_tables_match_a_monte_carlo_of_the_chain(tables, group, start):
    rng = np.random.default_rng(1)
    n, steps = 400_000, 12
    state = np.full(n, start)
    first = np.full(n, -1)
    for j in range(steps):
        event = (first < 0) & (rng.random(n) < tables.hazard[state])
        first[event] = j
        cumulative = np.cumsum(tables.transition[group, state], axis=1)
        state = (cumulative < rng.random(n)[:, None]).sum(axis=1)
    simulated = np.array([(first == j).mean() for j in range(steps)])
    exact = tables.first_event[group, start, :steps].sum(axis=1)
    tolerance = 4 * np.sqrt(exact / n) + 1e-4
    assert (np.abs(simulated - exact) <= tolerance).all()


def test_steps_cover_the_stay_and_leave_room_before_discharge():
    hours = np.array([3.0, 4.4, 4.6, 24.0, 100.0])
    steps = severity.steps_in_stay(hours, 4.0, 1000)
    assert list(steps) == [1, 1, 2, 6, 25]
    assert ((steps - 1) * 4.0 <= hours - severity.STEP_LEAD_HOURS).all()
