"""Configuration: profiles, overrides, and errors that name the file, the key and the problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from configs import CONFIG_DIR, ConfigError, load_settings
from features import cases, interactions


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """A writable copy of configs/ to break on purpose."""
    target = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def _edit(path: Path, edit) -> None:
    data = yaml.safe_load(path.read_text()) or {}
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_profiles_shrink_and_grow_the_world_as_documented():
    small, default, large = (load_settings(p).data_gen for p in ("small", "default", "large"))
    assert small.n_patients < default.n_patients < large.n_patients
    assert default.n_patients >= 50_000
    assert large.n_patients == 1_000_000
    assert small.n_patients // small.block_size >= 2  # so that worker counts can be compared


def test_profile_comes_from_the_environment_when_not_given(monkeypatch):
    monkeypatch.setenv("PROFILE", "small")
    assert load_settings().profile == "small"


def test_command_line_overrides_take_precedence_over_profile():
    settings = load_settings("small", ["n_patients=1234", "data_gen.length_of_stay.sigma=0.5"])
    assert settings.data_gen.n_patients == 1234
    assert settings.data_gen.length_of_stay.sigma == 0.5


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_setting_is_commented(path: Path):
    """Keys carry an inline comment; a section's comment may stand on the line above it.

    Fields of list entries (diagnoses, comorbidities, facilities) are explained once, in the comment
    block above their list.
    """
    lines = path.read_text().splitlines()
    uncommented = []
    for number, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#") or line.startswith("    "):
            continue
        key, colon, rest = line.strip().partition(":")
        if not colon or key.startswith(("-", "{")):
            continue
        above = lines[number - 1].strip() if number else ""
        if "#" not in rest and not above.startswith("#"):
            uncommented.append(line)
    assert uncommented == []


@pytest.mark.parametrize(
    ("file", "section", "key", "value", "expected"),
    [
        (
            "data_gen.yaml", "length_of_stay", "sigmaa", 0.5,
            ["data_gen.yaml: data_gen.length_of_stay.sigmaa: unknown key"],
        ),
        (
            "data_gen.yaml", "population", "female_share", 1.5,
            ["data_gen.yaml: data_gen.population.female_share", "less than or equal to 1", "1.5"],
        ),
        (
            "profiles/small.yaml", "data_gen", "n_patients", -5,
            ["small.yaml: data_gen.n_patients", "greater than or equal to 100"],
        ),
    ],
)  # fmt: skip
def test_bad_setting_in_a_file_names_the_file_the_key_and_the_problem(
    config_copy: Path, file: str, section: str, key: str, value: object, expected: list[str]
):
    _edit(config_copy / file, lambda d: d[section].update({key: value}))
    with pytest.raises(ConfigError) as error:
        load_settings("small", config_dir=config_copy)
    for fragment in expected:
        assert fragment in str(error.value)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("n_patients=-5", "command line (n_patients=-5): data_gen.n_patients"),
        ("n_patients=lots", "command line (n_patients=lots): data_gen.n_patients"),
        ("no_such_key=1", "unknown key 'no_such_key'"),
        ("intercept=1", "ambiguous"),
        ("n_patients", "not of the form key=value"),
        ("vitals_interval_hours=5", "data_gen.vitals_interval_hours"),
    ],
)
def test_bad_command_line_override_is_named(override: str, expected: str):
    with pytest.raises(ConfigError, match=None) as error:
        load_settings("small", [override])
    assert expected in str(error.value)


def test_unknown_profile_is_rejected():
    with pytest.raises(ConfigError, match="unknown profile 'huge'"):
        load_settings("huge")


def test_invalid_yaml_names_the_file(config_copy: Path):
    (config_copy / "data_gen.yaml").write_text("seed: [1, 2\n")
    with pytest.raises(ConfigError, match=r"data_gen\.yaml: not valid YAML"):
        load_settings("small", config_dir=config_copy)


def test_procedure_probabilities_above_one_are_rejected(config_copy: Path):
    def edit(d):
        sepsis = next(g for g in d["diagnoses"] if g["name"] == "sepsis")
        sepsis["procedures"][0]["probability"] = 0.99

    _edit(config_copy / "data_gen.yaml", edit)
    with pytest.raises(ConfigError, match="at most 1"):
        load_settings("small", config_dir=config_copy)


def test_diagnosis_affinity_must_name_a_known_comorbidity(config_copy: Path):
    def edit(d):
        d["diagnoses"][0]["comorbidity_affinity"] = {"gout": 2.0}

    _edit(config_copy / "data_gen.yaml", edit)
    with pytest.raises(ConfigError, match="unknown comorbidities \\['gout'\\]"):
        load_settings("small", config_dir=config_copy)


def test_a_medication_rule_naming_an_unknown_drug_is_rejected_with_its_place(config_copy: Path):
    def edit(d):
        d["medications"]["home"][0]["drugs"] = {"lisinoprill": 1.0}

    _edit(config_copy / "data_gen.yaml", edit)
    with pytest.raises(ConfigError, match=r"home\[0\]\.drugs: unknown \['lisinoprill'\]"):
        load_settings("small", config_dir=config_copy)


def test_a_harmful_pair_whose_classes_share_a_drug_is_rejected(config_copy: Path):
    def edit(d):
        d["medications"]["adverse_events"]["bleeding"]["interactions"] = [
            ["anticoagulant", "doac", 1.0]
        ]

    _edit(config_copy / "data_gen.yaml", edit)
    with pytest.raises(ConfigError, match="anticoagulant and doac share"):
        load_settings("small", config_dir=config_copy)


def test_fingerprint_ignores_worker_count_but_not_the_world():
    base = load_settings("small")
    assert base.fingerprint("data_gen", ["workers"]) == load_settings(
        "small", ["workers=4"]
    ).fingerprint("data_gen", ["workers"])
    assert base.fingerprint("data_gen", ["workers"]) != load_settings(
        "small", ["data_gen.seed=7"]
    ).fingerprint("data_gen", ["workers"])


def test_the_medication_features_name_only_classes_of_the_formulary():
    classes = load_settings("small").data_gen.medications.classes
    assert set(cases.MEDICATION_CLASSES) | {interactions.HIGH_ALERT} <= classes
