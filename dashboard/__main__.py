"""``python -m dashboard``: the clinical dashboard (Streamlit) on http://127.0.0.1:<port>."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from configs import cli, load_settings_or_exit

APP = Path(__file__).resolve().parent / "app.py"

app = cli.app(__doc__)


@app.command()
def main(
    overrides: cli.Overrides = None,
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="small, default or large")
    ] = None,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="folder holding clean/ (from make train)")
    ] = Path("data"),
    port: Annotated[
        int | None, typer.Option("--port", help="port (default: dashboard.port)")
    ] = None,
) -> None:
    """Serve the dashboard over what make train and make monitor left."""
    settings = load_settings_or_exit(profile, overrides)  # a bad key stops here, named
    port = port or settings.dashboard.port
    print(f"The dashboard: http://127.0.0.1:{port} (Ctrl-C stops it)", flush=True)
    arguments = [*(["--profile", profile] if profile else []), "--data-dir", str(data_dir)]
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--", *arguments, *(overrides or []),
    ]  # fmt: skip
    os.execv(sys.executable, command)


if __name__ == "__main__":
    app()
