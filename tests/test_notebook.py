"""The quickstart notebook runs top to bottom (at a small budget) and its outputs make sense."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_executes(monkeypatch):
    monkeypatch.setenv("RLJAX_QUICKSTART_TIMESTEPS", "2560")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    outputs = "".join(
        out.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "refused: PPOConfig.learning_rate=-1.0" in outputs
    assert "(8, 5)" in outputs  # [seeds, updates]
    assert "final evaluation return per seed" in outputs
    assert any(
        "image/png" in out.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert os.environ["RLJAX_QUICKSTART_TIMESTEPS"] == "2560"
