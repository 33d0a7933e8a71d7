"""Drug-drug interaction checking, and medication lists as model features: the same pure
functions for the batch pipeline, the server and the dashboard.

The knowledge base (``configs/medications.yaml``) pairs classes or drugs of the formulary
(``data_gen.medications.formulary``); compiled, it maps every pair of drugs to the rules it
breaks, severest first. An order is checked against the drugs active when it is placed; each
alert carries the pair, the severity and its tier (interruptive only for the severest), the
adverse event it warns of, the mechanism, the recommended action and the source.

As model features (``list_features``), a medication list is a row of a boolean matrix over the
formulary's drugs (``list_matrix``), counted by class and by the knowledge base's pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from configs import Settings
from configs.medications import Interaction
from configs.vocabulary import INTERACTION_SEVERITIES

SEVERITY_RANK = {severity: rank for rank, severity in enumerate(INTERACTION_SEVERITIES)}
SEVERE = INTERACTION_SEVERITIES[:2]  # contraindicated and major
HIGH_ALERT = "high_alert"  # the formulary's class of ISMP high-alert drugs
ALERT_COLUMNS = [
    "drug", "active_drug", "severity", "tier", "effect", "mechanism", "action", "source", "rule",
]  # fmt: skip


class UnknownDrugError(ValueError):
    """A drug that is not in the formulary (named by its code or name)."""


@dataclass(frozen=True)
class Alert:
    drug: str  # the drug being ordered
    active_drug: str  # the drug already active that it interacts with
    severity: str
    tier: str
    effect: str  # the adverse drug event the rule warns of
    mechanism: str
    action: str
    source: str
    rule: int  # the rule's position in the knowledge base


@dataclass(frozen=True)
class KnowledgeBase:
    """The knowledge base compiled over the formulary: drug names by RxNorm code, and each pair
    of drugs' rules (severest first); for model features, the drugs in the formulary's order,
    which of them each class covers, the pairs with a rule as positions in that order, and the
    diagnosis codes that record an adverse drug event."""

    names: dict[str, str]  # RxNorm code -> drug name (as the medications table writes it)
    rules: tuple[Interaction, ...]
    tiers: dict[str, str]
    by_pair: dict[frozenset[str], tuple[int, ...]]
    position: dict[str, int]  # RxNorm code -> the drug's column in a list matrix
    members: dict[str, np.ndarray]  # class -> bool over the drugs
    pairs: np.ndarray  # [pair, 2]: the columns of two drugs with a rule
    severe: np.ndarray  # [pair]: its severest rule is contraindicated or major
    event_codes: frozenset[str]

    @classmethod
    def of(cls, settings: Settings) -> KnowledgeBase:
        medications = settings.data_gen.medications
        rules = tuple(settings.medications.interactions)
        covered = {
            name: set(map(display, medications.drugs_of(name)))
            for rule in rules
            for name in (rule.a, rule.b)
        }
        by_pair: dict[frozenset[str], list[int]] = {}
        for index, rule in enumerate(rules):
            for x in covered[rule.a]:
                for y in covered[rule.b]:
                    if x != y:
                        by_pair.setdefault(frozenset((x, y)), []).append(index)
        ranked = {
            pair: tuple(sorted(set(found), key=lambda i: SEVERITY_RANK[rules[i].severity]))
            for pair, found in by_pair.items()
        }
        formulary = medications.formulary
        drugs = [display(d) for d in formulary]
        pairs = sorted(tuple(sorted(drugs.index(x) for x in pair)) for pair in ranked)
        severest = [rules[ranked[frozenset(drugs[i] for i in pair)][0]].severity for pair in pairs]
        return cls(
            names={drug.rxcui: display(d) for d, drug in formulary.items()},
            rules=rules,
            tiers=dict(settings.medications.tiers),
            by_pair=ranked,
            position={drug.rxcui: i for i, drug in enumerate(formulary.values())},
            members={
                name: np.array([name in drug.classes for drug in formulary.values()])
                for name in medications.classes
            },
            pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2),
            severe=np.isin(severest, SEVERE),
            event_codes=frozenset(
                code for codes in settings.medications.event_codes.values() for code in codes
            ),
        )

    def name_of(self, code: str) -> str:
        """The drug an RxNorm code stands for."""
        if code not in self.names:
            raise UnknownDrugError(f"RxNorm code {code!r} is not in the formulary")
        return self.names[code]

    def alert(self, drug: str, active_drug: str, rule: int) -> Alert:
        r = self.rules[rule]
        return Alert(
            drug, active_drug, r.severity, self.tiers[r.severity], r.effect, r.mechanism,
            r.action, r.source, rule,
        )  # fmt: skip


def display(name: str) -> str:
    """A formulary key as the medications table writes the drug's name."""
    return name.replace("_", " ")


def check_order(kb: KnowledgeBase, active: Iterable[str], drug: str) -> list[Alert]:
    """The alerts ordering ``drug`` raises beside the ``active`` drugs (names), severest first;
    one per pair and rule."""
    alerts = [
        kb.alert(drug, other, rule)
        for other in dict.fromkeys(active)
        if other != drug
        for rule in kb.by_pair.get(frozenset((drug, other)), ())
    ]
    return sorted(alerts, key=lambda a: SEVERITY_RANK[a.severity])


def check_list(kb: KnowledgeBase, drugs: Sequence[str]) -> list[Alert]:
    """Every interaction within a list (a reconciled medication list), each pair once; the later
    drug of the list is the one ordered."""
    alerts = [
        kb.alert(later, earlier, rule)
        for earlier, later in combinations(dict.fromkeys(drugs), 2)
        for rule in kb.by_pair.get(frozenset((earlier, later)), ())
    ]
    return sorted(alerts, key=lambda a: SEVERITY_RANK[a.severity])


def order_alerts(kb: KnowledgeBase, orders: pd.DataFrame) -> pd.DataFrame:
    """Every alert the orders of each stay would raise: an order against each order of its stay
    placed before it and not stopped by then (``orders``: encounter_key, order_key, drug_name,
    ordered_at, stopped_at). One row per alert: the stay, the order raising it and its time, and
    the alert's fields."""
    placed = orders[["encounter_key", "order_key", "drug_name", "ordered_at"]]
    earlier = orders[["encounter_key", "order_key", "drug_name", "ordered_at", "stopped_at"]]
    pairs = placed.merge(earlier, on="encounter_key", suffixes=("", "_active"))
    before = (pairs["ordered_at_active"] < pairs["ordered_at"]) | (
        (pairs["ordered_at_active"] == pairs["ordered_at"])
        & (pairs["order_key_active"] < pairs["order_key"])
    )
    pairs = pairs[
        before
        & (pairs["stopped_at"] > pairs["ordered_at"])
        & (pairs["drug_name"] != pairs["drug_name_active"])
    ]
    table = _pair_table(kb)
    found = pairs.merge(
        table, left_on=["drug_name", "drug_name_active"], right_on=["drug", "active_drug"]
    )
    return found[["encounter_key", "order_key", "ordered_at", *ALERT_COLUMNS]].reset_index(
        drop=True
    )


def _pair_table(kb: KnowledgeBase) -> pd.DataFrame:
    """Every ordered pair of drugs with an alert, one row per rule."""
    rows = [
        vars(kb.alert(x, y, rule))
        for pair, rules in kb.by_pair.items()
        for x, y in (tuple(pair), tuple(pair)[::-1])
        for rule in rules
    ]
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


# --------------------------------------------------------------------------------------------
# Medication lists as model features


def drug_columns(kb: KnowledgeBase, codes: Iterable[str]) -> np.ndarray:
    """Each RxNorm code's column in a list matrix (the drug's place in the formulary)."""
    codes = list(codes)
    if unknown := sorted({str(c) for c in codes if c not in kb.position}):
        raise UnknownDrugError(
            f"RxNorm code(s) {', '.join(map(repr, unknown))} not in the formulary"
        )
    return np.array([kb.position[c] for c in codes], dtype=np.int64)


def list_matrix(kb: KnowledgeBase, code_lists: Iterable[Iterable[str]]) -> np.ndarray:
    """[row, drug]: which drugs each list of RxNorm codes holds (a code twice counts once)."""
    lists = [list(codes) for codes in code_lists]
    row = np.repeat(np.arange(len(lists)), [len(codes) for codes in lists])
    matrix = np.zeros((len(lists), len(kb.position)), dtype=bool)
    matrix[row, drug_columns(kb, (c for codes in lists for c in codes))] = True
    return matrix


def list_features(
    kb: KnowledgeBase, on: np.ndarray, home: np.ndarray, classes: Sequence[str]
) -> dict[str, np.ndarray]:
    """Counts of a list (``on``, [row, drug]) and of its home medicines (``home``): drugs, home
    drugs, ISMP high-alert drugs, whether it holds each of ``classes``, and the pairs on it the
    knowledge base warns of (all, and those whose severest rule is contraindicated or major)."""
    both = on[:, kb.pairs[:, 0]] & on[:, kb.pairs[:, 1]]
    return {
        "medicines": on.sum(axis=1).astype(np.float64),
        "home_medicines": home.sum(axis=1).astype(np.float64),
        "high_alert_medicines": (on & kb.members[HIGH_ALERT]).sum(axis=1).astype(np.float64),
        **{f"on_{c}": (on & kb.members[c]).any(axis=1).astype(np.float64) for c in classes},
        "interacting_pairs": both.sum(axis=1).astype(np.float64),
        "severe_interacting_pairs": both[:, kb.severe].sum(axis=1).astype(np.float64),
    }
