"""Drug-drug interaction checking: the knowledge base compiled over the formulary, one order
against an active list, a whole list, and the batch over a stay's orders, which must agree."""

from __future__ import annotations

import shutil
from operator import attrgetter

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from configs import CONFIG_DIR, ConfigError, load_settings
from features import interactions as ix

SETTINGS = load_settings("small")
KB = ix.KnowledgeBase.of(SETTINGS)
DRUGS = sorted(set(KB.names.values()))
drug_lists = st.lists(st.sampled_from(DRUGS), min_size=0, max_size=25)


def test_warfarin_with_ibuprofen_is_a_passive_major_bleeding_alert_with_its_advice():
    (alert,) = ix.check_order(KB, ["warfarin", "metformin"], "ibuprofen")
    assert (alert.drug, alert.active_drug) == ("ibuprofen", "warfarin")
    assert (alert.severity, alert.tier, alert.effect) == ("major", "passive", "bleeding")
    assert "acetaminophen" in alert.action
    assert alert.source


def test_only_contraindicated_pairs_interrupt():
    tiers = {(r.severity, KB.tiers[r.severity]) for r in KB.rules}
    assert {tier for severity, tier in tiers if severity == "contraindicated"} == {"interruptive"}
    assert {tier for severity, tier in tiers if severity != "contraindicated"} <= {
        "passive",
        "informational",
    }
    (alert,) = ix.check_order(KB, ["sertraline"], "phenelzine")
    assert alert.tier == "interruptive"


def test_a_class_paired_with_itself_needs_two_different_drugs_of_it():
    assert ix.check_order(KB, ["citalopram"], "citalopram") == []
    (alert,) = ix.check_order(KB, ["citalopram"], "ondansetron")
    assert alert.effect == "arrhythmia"


def test_a_repeated_active_drug_raises_its_alert_once():
    assert len(ix.check_order(KB, ["warfarin", "warfarin"], "naproxen")) == 1


def test_an_unknown_code_is_named():
    assert KB.name_of("11289") == "warfarin"
    with pytest.raises(ix.UnknownDrugError, match="'999999'"):
        KB.name_of("999999")


@settings(max_examples=200, deadline=None)
@given(active=drug_lists, drug=st.sampled_from(DRUGS))
def test_an_alert_does_not_depend_on_which_drug_came_first(active, drug):
    forward = {(a.active_drug, a.rule) for a in ix.check_order(KB, active, drug)}
    backward = {(other, a.rule) for other in set(active) for a in ix.check_order(KB, [drug], other)}
    assert forward == backward


@settings(max_examples=200, deadline=None)
@given(drugs=drug_lists)
def test_a_list_raises_what_its_drugs_raise_ordered_one_after_another(drugs):
    unique = list(dict.fromkeys(drugs))
    one_by_one = [a for i, d in enumerate(unique) for a in ix.check_order(KB, unique[:i], d)]
    key = attrgetter("drug", "active_drug", "rule")
    assert sorted(map(key, ix.check_list(KB, drugs))) == sorted(map(key, one_by_one))
    severities = [a.severity for a in ix.check_list(KB, drugs)]
    assert severities == sorted(severities, key=["contraindicated", "major", "moderate"].index)


def test_the_batch_checks_each_order_against_the_orders_active_when_it_was_placed():
    t = pd.Timestamp("2024-01-01 08:00")
    hours = pd.Timedelta(hours=1)
    orders = pd.DataFrame(
        {
            "encounter_key": ["s1"] * 4 + ["s2"],
            "order_key": [1, 2, 3, 4, 5],
            "drug_name": ["warfarin", "ibuprofen", "oxycodone", "lorazepam", "naproxen"],
            "ordered_at": [t, t + 2 * hours, t + 3 * hours, t + 9 * hours, t],
            "stopped_at": [
                t + 48 * hours,
                t + 30 * hours,
                t + 6 * hours,
                t + 20 * hours,
                t + hours,
            ],
        }
    )
    alerts = ix.order_alerts(KB, orders)
    # Ibuprofen meets warfarin; lorazepam comes after oxycodone stopped; s2 has one order.
    assert alerts[["order_key", "drug", "active_drug"]].values.tolist() == [
        [2, "ibuprofen", "warfarin"]
    ]
    active = orders[orders["encounter_key"] == "s1"]
    for row in active.itertuples():
        live = active[
            (active["ordered_at"] < row.ordered_at) & (active["stopped_at"] > row.ordered_at)
        ]
        expected = {
            (a.drug, a.active_drug) for a in ix.check_order(KB, live["drug_name"], row.drug_name)
        }
        got = alerts[alerts["order_key"] == row.order_key]
        assert set(zip(got["drug"], got["active_drug"], strict=True)) == expected


def test_a_rule_naming_no_drug_or_class_of_the_formulary_is_rejected(tmp_path):
    shutil.copytree(CONFIG_DIR, tmp_path / "configs", ignore=shutil.ignore_patterns("*.py"))
    path = tmp_path / "configs" / "medications.yaml"
    data = yaml.safe_load(path.read_text())
    data["interactions"][0]["b"] = "mao_inhibitor"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"interactions\[0\]: \['mao_inhibitor'\] is no drug"):
        load_settings("small", config_dir=tmp_path / "configs")


# --------------------------------------------------------------------------------------------
# Medication lists as model features


def _codes(*names: str) -> list[str]:
    return [SETTINGS.data_gen.medications.formulary[n].rxcui for n in names]


def test_a_list_counts_its_drugs_classes_and_the_pairs_the_knowledge_base_warns_of():
    listed = _codes("warfarin", "ibuprofen", "lisinopril", "spironolactone")
    on = ix.list_matrix(KB, [listed])
    home = ix.list_matrix(KB, [_codes("warfarin")])
    features = ix.list_features(KB, on, home, ["anticoagulant", "nsaid", "opioid"])
    assert {name: float(value[0]) for name, value in features.items()} == {
        "medicines": 4.0,
        "home_medicines": 1.0,
        "high_alert_medicines": 1.0,  # warfarin
        "on_anticoagulant": 1.0,
        "on_nsaid": 1.0,
        "on_opioid": 0.0,
        # warfarin + ibuprofen (major), lisinopril + spironolactone (major), ibuprofen +
        # lisinopril (moderate)
        "interacting_pairs": 3.0,
        "severe_interacting_pairs": 2.0,
    }


@settings(max_examples=60, deadline=None)
@given(drug_lists, st.randoms(use_true_random=False))
def test_list_features_ignore_the_order_and_repeats_of_the_codes(drugs, shuffler):
    codes = [code for code, name in KB.names.items() if name in set(drugs)]
    shuffled = codes * 2
    shuffler.shuffle(shuffled)
    on = ix.list_matrix(KB, [codes, shuffled])
    features = ix.list_features(KB, on, on, ["opioid"])
    for name, values in features.items():
        assert values[0] == values[1], name
    pairs = {frozenset((a, b)) for a in drugs for b in drugs if a != b}
    assert features["interacting_pairs"][0] == sum(p in KB.by_pair for p in pairs)


def test_an_unknown_code_in_a_list_is_named():
    with pytest.raises(ix.UnknownDrugError, match="'99999999'"):
        ix.list_matrix(KB, [_codes("aspirin"), ["99999999"]])
