"""The analysis notebooks: stored without outputs, executed top to bottom on the small world's
outputs of make train, make monitor and make decisions (as make notebooks executes them), free of
the raw identifiers, and stopping in their first cell, with the command to run, when an input is
missing."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from notebooks import notebook_paths
from notebooks.execute import FAILED_SUFFIX, NotebookError, execute

pytestmark = pytest.mark.slow

NAMES = ["01_data_cleaning", "02_eda", "03_patient_analytics", "04_model_review"]
IMAGE = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


@pytest.fixture(scope="module")
def executed(trained, small_world_dir, small_outputs, tmp_path_factory) -> Path:
    """Every notebook executed on the small world's outputs: the folder of executed notebooks
    and pages."""
    settings, _ = trained
    reports, env = small_outputs
    parameters = {
        "profile": "small",
        "data_dir": str(small_world_dir),
        "overrides": [
            f"training.tracking_uri={settings.training.tracking_uri}",
            f"monitoring.reports_dir={reports}",
            f"decisions.tables_dir={reports / 'decisions'}",
        ],
    }
    folder = tmp_path_factory.mktemp("notebooks")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HOSPITAL_PSEUDONYM_KEY", "MLFLOW_TRACKING_URI"):
            patch.setenv(name, env[name])
        for path in notebook_paths():
            execute(path, folder, parameters)
    return folder


def _outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def test_the_four_notebooks_are_stored_without_outputs():
    assert [path.stem for path in notebook_paths()] == NAMES
    for path in notebook_paths():
        notebook = nbformat.read(path, as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert not [c for c in code if c.outputs or c.execution_count is not None], path.name
        assert code[0].metadata.get("tags") == ["parameters"], path.name


def test_every_notebook_runs_to_the_end_with_figures_and_computed_prose(executed):
    for name in NAMES:
        notebook = nbformat.read(executed / f"{name}.ipynb", as_version=4)
        outputs = _outputs(notebook)
        assert not [o for o in outputs if o.output_type == "error"], name
        assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], name
        figures = sum("image/png" in o.get("data", {}) for o in outputs)
        prose = [
            o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})
        ]
        assert figures >= 3, name
        assert len(prose) >= 4, name
        # Prose computed from the data: numbers in it, and no unfilled placeholder.
        assert all(re.search(r"\d", text) for text in prose), name
        assert not [text for text in prose if "{" in text], name
        page = (executed / f"{name}.html").read_text()
        assert len(IMAGE.findall(page)) >= figures, name  # the page's template has an icon too


def test_the_cleaning_notebook_catches_the_damage_it_injects(executed):
    notebook = nbformat.read(executed / "01_data_cleaning.ipynb", as_version=4)
    prose = " ".join(
        o["data"]["text/markdown"] for o in _outputs(notebook) if "text/markdown" in o["data"]
    )
    caught = re.search(
        r"Of ([\d,]+) damaged rows, ([\d,]+)\s+\(([\d.]+)%\) went to quarantine", prose
    )
    assert caught, prose
    assert float(caught.group(3)) > 95.0
    assert re.search(r"\b0 appear anywhere in the clean patients", prose)


def test_no_raw_identifier_appears_in_any_executed_notebook_or_page(executed, small_world):
    patients = small_world["patients"]
    identifiers = {
        *(patients["first_name"] + " " + patients["last_name"]),
        *patients["mrn"].astype(str),
        *patients["ssn"],
        *patients["phone"],
    }
    for name in NAMES:
        for path in (executed / f"{name}.ipynb", executed / f"{name}.html"):
            text = IMAGE.sub("", path.read_text())
            found = {
                *re.findall(r"\d{3}-\d{2}-\d{4}", text),
                *re.findall(r"\(\d{3}\) \d{3}-\d{4}", text),
                *re.findall(r"(?<!\d)\d{8}(?!\d)", text),
                *re.findall(r"(?=\b([A-Z][a-z'-]+ [A-Z][A-Za-z'-]+)\b)", text),
            }
            assert not found & identifiers, path.name


def test_a_notebook_whose_inputs_are_missing_stops_in_its_first_cell_naming_the_commands(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the kernel's store: the override
    parameters = {
        "profile": "small",
        "data_dir": str(tmp_path / "data"),
        "overrides": [
            f"training.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
            f"monitoring.reports_dir={tmp_path / 'reports'}",
            f"decisions.tables_dir={tmp_path / 'reports' / 'decisions'}",
        ],
    }
    (path,) = [p for p in notebook_paths() if p.stem == "04_model_review"]
    with pytest.raises(NotebookError, match="MissingInputError") as raised:
        execute(path, tmp_path / "out", parameters)
    for command in ("make features", "make train", "make monitor", "make decisions"):
        assert f"`{command} PROFILE=small`" in str(raised.value)
    failed = nbformat.read(tmp_path / "out" / f"{path.stem}{FAILED_SUFFIX}", as_version=4)
    code = [cell for cell in failed.cells if cell.cell_type == "code"]
    stopped = [
        i for i, cell in enumerate(code) if any(o.output_type == "error" for o in cell.outputs)
    ]
    # The parameters, the values papermill injected, then the first cell of the notebook's own.
    assert stopped == [2]
    assert not (tmp_path / "out" / f"{path.stem}.ipynb").exists()
