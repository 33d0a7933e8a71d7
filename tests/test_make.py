"""The README's first try, as a newcomer makes it: ``PROFILE=small make train`` on a copy of the
repository (the environment already set up), from the world to the champions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from configs import load_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_small_make_train_runs_as_the_readme_shows(tmp_path, key_root, small_settings):
    venv = Path(sys.prefix)
    if venv == Path(sys.base_prefix) or not (venv / ".installed").exists():
        pytest.skip("runs inside the project's virtual environment (make test sets it up)")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False, text=True
    )
    if listed.returncode != 0:
        pytest.skip("needs a git checkout to copy")
    copy = tmp_path / "repository"
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)  # the same times: no reinstall
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "HOSPITAL_"))}
    # The tests' own key: the small world's splits then hold the few deaths the other tests'
    # training finds (another key can leave a split of a few thousand patients with none).
    etl = small_settings.features.etl
    env[etl.key_env] = (key_root / etl.key_file).read_text().strip()
    done = subprocess.run(
        ["make", "train", f"VENV={venv}"],
        cwd=copy,
        env={**env, "PROFILE": "small"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    assert "pip install" not in done.stdout  # the environment was reused, not rebuilt
    assert "Champions and challengers" in done.stdout
    settings = load_settings("small")
    for task in settings.task_names:
        assert (copy / "data" / "features" / f"{settings.tasks[task].table}.parquet").exists()
        assert task in done.stdout
