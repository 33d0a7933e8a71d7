"""Execute a notebook with its parameters (papermill) and render it as HTML (nbconvert): the
executed copy and the page replace the previous ones only when every cell ran."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import papermill
from nbconvert import HTMLExporter
from papermill.exceptions import PapermillExecutionError

from notebooks import ROOT

FAILED_SUFFIX = ".failed.ipynb"


class NotebookError(RuntimeError):
    """A cell failed: the message names the notebook, the cell and the error it raised."""


def execute(
    notebook: Path, output_dir: Path, parameters: dict[str, object], timeout_seconds: int = 1200
) -> float:
    """Run ``notebook`` top to bottom into ``output_dir`` (``<name>.ipynb`` and ``<name>.html``)
    and return the seconds it took. A failure leaves ``<name>.failed.ipynb`` beside them, the
    previous outputs untouched, and raises ``NotebookError``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    name = notebook.stem
    staged = output_dir / f".{name}.running.ipynb"
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(staged),
            parameters=parameters,
            kernel_name="python3",
            progress_bar=False,
            request_save_on_cell_execute=False,
            cwd=str(ROOT),
            execution_timeout=timeout_seconds,
        )
    except PapermillExecutionError as error:
        staged.replace(output_dir / f"{name}{FAILED_SUFFIX}")
        raise NotebookError(
            f"{name}: cell {error.exec_count} raised {error.ename}: {error.evalue} (the executed"
            f" notebook: {output_dir / (name + FAILED_SUFFIX)})"
        ) from None
    seconds = time.perf_counter() - started
    executed = nbformat.read(staged, as_version=4)
    html, _ = HTMLExporter().from_notebook_node(executed)
    page = output_dir / f".{name}.running.html"
    page.write_text(html)
    staged.replace(output_dir / f"{name}.ipynb")
    page.replace(output_dir / f"{name}.html")
    (output_dir / f"{name}{FAILED_SUFFIX}").unlink(missing_ok=True)
    return seconds
