"""The world's claims: each stay is billed once, priced by its payer's contract as documented,
paid as often as the oracle says, and its DRG tier follows the diagnoses coded on it; each
facility's own readmission term shows in the oracle's ratio to an average facility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from configs.vocabulary import DRG_SEVERITIES


@pytest.fixture(scope="module")
def billed(small_world, small_settings) -> pd.DataFrame:
    """Each claim beside its stay, facility type, principal-diagnosis group and oracle."""
    config = small_settings.data_gen
    group_of_code = {code: g.name for g in config.diagnoses for code in g.codes}
    facility_type = {i + 1: f.type for i, f in enumerate(config.facilities)}
    stays = small_world["encounters"].assign(
        group=lambda e: e["primary_dx_code"].map(group_of_code),
        facility_type=lambda e: e["facility_id"].map(facility_type),
    )
    procedures = small_world["procedures"][["encounter_id", "code"]]
    return (
        small_world["claims"]
        .merge(stays, on="encounter_id", validate="one_to_one")
        .merge(small_world["oracle_encounters"], on="encounter_id", validate="one_to_one")
        .merge(procedures.rename(columns={"code": "procedure_code"}), on="encounter_id", how="left")
    )


def test_every_stay_has_one_claim_from_its_patients_payer(small_world):
    claims, stays = small_world["claims"], small_world["encounters"]
    assert claims["encounter_id"].is_unique
    assert set(claims["encounter_id"]) == set(stays["encounter_id"])
    payer = stays.merge(small_world["patients"], on="patient_id").set_index("encounter_id")["payer"]
    assert (claims["payer"].to_numpy() == payer.loc[claims["encounter_id"]].to_numpy()).all()
    assert not set(claims["claim_id"]) & set(stays["encounter_id"])  # the billing system's numbers


def test_claims_are_billed_after_discharge_and_paid_in_full_or_not_at_all(billed):
    assert (billed["billed_at"] >= billed["discharged_at"]).all()
    paid = billed["paid_usd"]
    assert ((paid == 0) | np.isclose(paid, billed["allowed_usd"], atol=0.01)).all()
    assert not billed.loc[billed["payer"] == "self_pay", "initially_denied"].any()


def test_drg_weight_is_the_groups_or_its_surgical_drgs_at_the_claims_tier(billed, small_settings):
    config = small_settings.data_gen
    medical = {g.name: g.drg_weights for g in config.diagnoses}
    surgical = {
        (g.name, p.code): p.drg_weights
        for g in config.diagnoses
        for p in g.procedures
        if p.drg_weights is not None
    }
    tier = billed["drg_severity"].map(DRG_SEVERITIES.index)
    expected = [
        surgical.get((group, code), medical[group])[t]
        for group, code, t in zip(billed["group"], billed["procedure_code"], tier, strict=True)
    ]
    np.testing.assert_allclose(billed["drg_weight"], expected)
    assert set(billed["drg_severity"]) == set(DRG_SEVERITIES)


def test_a_coded_cc_or_mcc_raises_the_tier_and_sicker_stays_carry_more_mccs(
    billed, small_world, small_settings
):
    finance = small_settings.data_gen.finance
    diagnoses = small_world["diagnoses"]
    secondary = diagnoses[diagnoses["position"] > 1]
    with_cc = set(secondary.loc[secondary["code"].isin(finance.cc_codes), "encounter_id"])
    with_mcc = set(secondary.loc[secondary["code"].isin(finance.mcc_codes), "encounter_id"])
    severity = billed.set_index("encounter_id")["drg_severity"]
    assert (severity.loc[sorted(with_cc)] != "none").all()
    assert (severity.loc[sorted(with_mcc)] == "mcc").all()
    mcc_share = (billed["drg_severity"] == "mcc").groupby(billed["initial_severity_state"]).mean()
    assert mcc_share.loc[0] < mcc_share.loc[1] < mcc_share.loc[2]


def test_each_payer_owes_what_its_contract_says(billed, small_settings):
    f = small_settings.data_gen.finance
    ipps = billed["facility_type"] != "critical_access"
    multiplier = billed["facility_type"].map(f.medicare_multiplier)
    drg_price = f.medicare_base_rate_usd * f.price_level * multiplier * billed["drg_weight"]
    medicare = drg_price.where(ipps, f.critical_access_cost_share * billed["total_cost_usd"])
    expected = np.select(
        [billed["payer"] == p for p in ("medicare", "medicaid", "commercial", "self_pay")],
        [
            medicare,
            f.medicaid_share_of_medicare * medicare,
            f.commercial_share_of_charges * billed["charges_usd"],
            f.self_pay_share_of_charges * billed["charges_usd"],
        ],
    )
    np.testing.assert_allclose(billed["allowed_usd"], expected, atol=0.02)
    ratio = billed["charges_usd"].sum() / billed["total_cost_usd"].sum()
    assert ratio == pytest.approx(f.charge_to_cost_ratio, rel=0.03)


def test_claims_are_paid_as_often_as_the_oracle_expects_for_each_payer(billed):
    for payer, claims in billed.groupby("payer"):
        p = claims["p_claim_paid"]
        paid = (claims["paid_usd"] > 0).mean()
        standard_error = np.sqrt((p * (1 - p)).sum()) / len(claims)
        assert abs(paid - p.mean()) < 4 * standard_error + 1e-9, payer
        np.testing.assert_allclose(
            claims["expected_paid_usd"], p * claims["allowed_usd"], atol=0.01
        )


def test_the_oracles_readmission_ratio_to_an_average_facility_follows_each_facilitys_term(
    billed, small_settings
):
    alive = billed.dropna(subset=["p_readmit_30d"])
    ratio = alive.groupby("facility_id").apply(
        lambda f: f["p_readmit_30d"].sum() / f["p_readmit_30d_average_facility"].sum()
    )
    for facility_id, value in ratio.items():
        term = small_settings.data_gen.facilities[facility_id - 1].readmit_log_odds
        if term == 0.0:
            assert value == pytest.approx(1.0, abs=1e-9)
        else:
            assert np.sign(value - 1.0) == np.sign(term), (facility_id, value, term)
        assert abs(value - 1.0) < abs(np.expm1(term)) + 1e-12  # diluted by unrelated admissions
