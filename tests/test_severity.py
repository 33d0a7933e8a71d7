"""The severity chain's exact tables agree with simulating the chain."""

from __future__ import annotations

import numpy as np
import pytest

from configs import load_settings
from data_gen import severity

DELAYED_UP = 0.35


@pytest.fixture(scope="module")
def tables():
    config = load_settings("small").data_gen.severity
    return severity.chain_tables(config, max_steps=60, delayed_up=DELAYED_UP)


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


def test_a_delayed_stay_worsens_more_often_in_its_first_step_only(tables):
    usual, delayed = np.split(tables.first_transition, 2)
    assert np.allclose(usual, tables.transition)
    below_top = np.arange(4)
    up = delayed[:, below_top, below_top + 1] - usual[:, below_top, below_top + 1]
    assert np.allclose(up, DELAYED_UP)
    assert np.allclose(delayed.sum(axis=2), 1)
    group = severity.chain_group(np.repeat(np.arange(3), 4), True)
    start = np.tile(below_top, 3)
    steps = np.full(12, 12)
    later = severity.event_within(tables, group - severity.GROUPS, start, steps)
    assert (severity.event_within(tables, group, start, steps) > later).all()


@pytest.mark.parametrize(("group", "start"), [(0, 0), (1, 2), (2, 1), (3, 1), (5, 2)])
def test_tables_match_a_monte_carlo_of_the_chain(tables, group, start):
    rng = np.random.default_rng(1)
    n, steps = 400_000, 12
    state = np.full(n, start)
    first = np.full(n, -1)
    for j in range(steps):
        event = (first < 0) & (rng.random(n) < tables.hazard[state])
        first[event] = j
        step = (
            tables.first_transition[group] if j == 0 else tables.transition[group % severity.GROUPS]
        )
        cumulative = np.cumsum(step[state], axis=1)
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
