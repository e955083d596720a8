"""The notebooks of ``notebooks/`` run top to bottom at the small size (nbclient, IPython kernel),
write their figures, and stay clean jupytext percent scripts (no outputs in git)."""

import json

import jupytext
import pytest

from tritforge.app.notebooks import NOTEBOOK_DIR, NOTEBOOKS, run_notebook, settings
from tritforge.spec.errors import ParameterError


def test_every_notebook_is_listed():
    assert sorted(path.stem for path in NOTEBOOK_DIR.glob("*.py")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_a_percent_script(name):
    path = NOTEBOOK_DIR / f"{name}.py"
    text = path.read_text()
    # The cells as jupytext writes them back (the header may gain jupytext's version lines).
    again = jupytext.writes(jupytext.reads(text, fmt="py:percent"), fmt="py:percent")
    assert again.split("# ---\n")[2] == text.split("# ---\n")[2]
    notebook = jupytext.reads(text, fmt="py:percent")
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_at_small_size(name, tmp_path):
    path, seconds = run_notebook(name, size="small", figures=tmp_path / "figures", build=tmp_path / "build")
    executed = json.loads(path.read_text())
    errors = [output for cell in executed["cells"] for output in cell.get("outputs", [])
              if output["output_type"] == "error"]
    assert not errors
    figures = sorted((tmp_path / "figures").glob("*.png"))
    assert figures, "a notebook saves its figures"
    assert all(figure.read_bytes()[:4] == b"\x89PNG" for figure in figures)


def test_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("TRITFORGE_NOTEBOOK_SIZE", "small")
    monkeypatch.setenv("TRITFORGE_NOTEBOOK_BUILD", str(tmp_path))
    assert settings("x").small and settings("x").build == tmp_path / "x"
    monkeypatch.setenv("TRITFORGE_NOTEBOOK_SIZE", "huge")
    with pytest.raises(ParameterError, match=r"^TRITFORGE_NOTEBOOK_SIZE must be one of small, full, not 'huge'$"):
        settings("x")
    with pytest.raises(ParameterError, match=r"^notebook must be one of quickstart, "):
        run_notebook("nonsense")
