"""Direct identifiers (names, addresses, phones, SSNs, MRNs) for de-identification to remove.

Faker is called a few thousand times to build pools of names, streets and cities; numpy then draws
from the pools. Numeric identifiers are built directly: SSNs and MRNs are bijections of the global
patient index, so they are unique across blocks without any coordination between workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faker import Faker

POOL_SIZE = 2500  # Faker draws per pool, repeats kept so that common names stay common
# SSN: area 001-899 without 666, group 01-99, serial 0001-9999.
_SSN_AREAS = np.array([a for a in range(1, 900) if a != 666])
_SSN_SPACE = len(_SSN_AREAS) * 99 * 9999
_SSN_MULTIPLIER = 2_654_435_761  # coprime with the space (2 3^4 11^2 101 449)
_MRN_SPACE = 90_000_000  # eight digits, 10000000-99999999
_MRN_MULTIPLIER = 44_435_761  # coprime with the space (2^7 3^2 5^7)


@dataclass(frozen=True)
class IdentifierPools:
    first_names_female: np.ndarray
    first_names_male: np.ndarray
    last_names: np.ndarray
    street_names: np.ndarray
    cities: np.ndarray


def build_pools(seed: int) -> IdentifierPools:
    """Faker-made values in a deterministic order for a given seed and Faker version."""
    fake = Faker("en_US")
    fake.seed_instance(seed)

    def pool(make) -> np.ndarray:
        return np.array([make() for _ in range(POOL_SIZE)], dtype=object)

    return IdentifierPools(
        first_names_female=pool(fake.first_name_female),
        first_names_male=pool(fake.first_name_male),
        last_names=pool(fake.last_name),
        street_names=pool(fake.street_name),
        cities=pool(fake.city),
    )


def ssn_for(patient_index: np.ndarray, seed: int) -> np.ndarray:
    """A valid-format SSN per patient index; distinct indices give distinct SSNs."""
    offset = seed % _SSN_SPACE
    code = (patient_index.astype(np.int64) * (_SSN_MULTIPLIER % _SSN_SPACE) + offset) % _SSN_SPACE
    area = _SSN_AREAS[code // (99 * 9999)]
    group = (code // 9999) % 99 + 1
    serial = code % 9999 + 1
    return _formatted([(area, 3), "-", (group, 2), "-", (serial, 4)])


def mrn_for(patient_index: np.ndarray, seed: int) -> np.ndarray:
    """An eight-digit medical record number per patient index; distinct indices, distinct MRNs."""
    offset = (seed // 7) % _MRN_SPACE
    code = (patient_index.astype(np.int64) * _MRN_MULTIPLIER + offset) % _MRN_SPACE
    return _formatted([(code + 10_000_000, 8)])


def phone_numbers(rng: np.random.Generator, n: int, area_codes: list[str]) -> np.ndarray:
    """North American numbers: exchange 200-999 (not N11), line 0000-9999."""
    area = np.array([int(a) for a in area_codes])[rng.integers(0, len(area_codes), n)]
    exchange = rng.integers(200, 1000, n)
    exchange = np.where(exchange % 100 == 11, exchange + 1, exchange)
    line = rng.integers(0, 10_000, n)
    return _formatted(["(", (area, 3), ") ", (exchange, 3), "-", (line, 4)])


def names_and_addresses(
    rng: np.random.Generator, pools: IdentifierPools, female: np.ndarray
) -> dict[str, np.ndarray]:
    n = len(female)
    first = np.where(
        female,
        pools.first_names_female[rng.integers(0, len(pools.first_names_female), n)],
        pools.first_names_male[rng.integers(0, len(pools.first_names_male), n)],
    )
    last = pools.last_names[rng.integers(0, len(pools.last_names), n)]
    house = rng.integers(1, 9990, n).astype(str).astype(object)
    street = pools.street_names[rng.integers(0, len(pools.street_names), n)]
    city = pools.cities[rng.integers(0, len(pools.cities), n)]
    return {
        "first_name": first,
        "last_name": last,
        "address": house + " " + street,
        "city": city,
    }


def _formatted(parts: list[str | tuple[np.ndarray, int]]) -> np.ndarray:
    """Fixed-width strings from literal pieces and zero-padded numbers, built as ASCII bytes."""
    n = next(len(p[0]) for p in parts if isinstance(p, tuple))
    columns = []
    for part in parts:
        if isinstance(part, str):
            columns.extend(np.full(n, ord(ch), np.uint8) for ch in part)
        else:
            values, width = part
            columns.extend(
                (values // 10 ** (width - 1 - i) % 10 + ord("0")).astype(np.uint8)
                for i in range(width)
            )
    matrix = np.ascontiguousarray(np.stack(columns, axis=1))
    return matrix.view(f"S{matrix.shape[1]}").ravel().astype(str)
