"""Direct identifiers: realistic formats, unique where a hospital needs them unique."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from data_gen import identifiers

indices = st.lists(
    st.integers(min_value=1, max_value=5_000_000), min_size=1, max_size=500, unique=True
)


@given(indices, st.integers(min_value=0, max_value=2**40))
@settings(max_examples=50, deadline=None)
def test_distinct_patients_get_distinct_ssns_and_mrns(patient_indices, seed):
    index = np.array(patient_indices)
    assert len(set(identifiers.ssn_for(index, seed))) == len(index)
    assert len(set(identifiers.mrn_for(index, seed))) == len(index)


@given(indices, st.integers(min_value=0, max_value=2**40))
@settings(max_examples=50, deadline=None)
def test_ssns_avoid_the_numbers_never_issued(patient_indices, seed):
    for ssn in identifiers.ssn_for(np.array(patient_indices), seed):
        area, group, serial = ssn.split("-")
        assert area not in ("000", "666")
        assert int(area) < 900
        assert group != "00"
        assert serial != "0000"


def test_pools_are_deterministic_for_a_seed():
    a, b = identifiers.build_pools(3), identifiers.build_pools(3)
    assert list(a.last_names) == list(b.last_names)
    assert list(a.street_names) != list(identifiers.build_pools(4).street_names)


def test_names_follow_sex_and_addresses_have_a_number_and_a_street():
    rng = np.random.default_rng(0)
    pools = identifiers.build_pools(0)
    female = np.array([True, False] * 50)
    fields = identifiers.names_and_addresses(rng, pools, female)
    assert set(fields["first_name"][female]) <= set(pools.first_names_female)
    assert set(fields["first_name"][~female]) <= set(pools.first_names_male)
    assert all(address.split(" ", 1)[0].isdigit() for address in fields["address"])
