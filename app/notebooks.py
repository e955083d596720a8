"""The notebooks of ``notebooks/``: their settings, their figures, and running them.

The notebooks are jupytext percent-format scripts (``notebooks/*.py``: reviewable diffs, no
outputs in git). Each reads its settings with :func:`settings`:

* ``TRITFORGE_NOTEBOOK_SIZE``: ``full`` (default; ``make notebooks``) or ``small`` (the test
  suite: the same code on smaller models and sweeps, seconds per notebook);
* ``TRITFORGE_FIGURES``: where :func:`save_figure` writes the figures (default
  ``docs/figures``);
* ``TRITFORGE_NOTEBOOK_BUILD``: the notebook's working folder (default ``build/notebooks``).

:func:`run_notebook` executes one with nbclient on an IPython kernel and writes the executed
``.ipynb`` beside its build folder; ``python -m tritforge.app.notebooks [--size small] [NAME...]``
runs them (``make notebooks``).
"""

import dataclasses
import os
import time
from pathlib import Path

import click

from ..spec.errors import ParameterError
from ..spec.io import atomic_path

__all__ = ["NOTEBOOKS", "SIZES", "Settings", "settings", "save_figure", "run_notebook", "main"]

#: The repository's folders (the notebooks run from a checkout).
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
#: The notebooks, in reading order.
NOTEBOOKS = ("quickstart", "ternary_vs_int8", "design_space", "bitnet_2b4t")
SIZES = ("small", "full")


@dataclasses.dataclass(frozen=True)
class Settings:
    """``small``: run at the test suite's size; ``figures``, ``build``: folders."""
    small: bool
    figures: Path
    build: Path


def settings(name):
    """The :class:`Settings` of notebook ``name`` from the environment (module docstring); the
    build folder is ``<build>/<name>``, created."""
    size = os.environ.get("TRITFORGE_NOTEBOOK_SIZE", "full")
    if size not in SIZES:
        raise ParameterError(f"TRITFORGE_NOTEBOOK_SIZE must be one of {', '.join(SIZES)}, not {size!r}")
    figures = Path(os.environ.get("TRITFORGE_FIGURES", ROOT / "docs" / "figures"))
    build = Path(os.environ.get("TRITFORGE_NOTEBOOK_BUILD", ROOT / "build" / "notebooks")) / name
    build.mkdir(parents=True, exist_ok=True)
    return Settings(small=size == "small", figures=figures, build=build)


def save_figure(figure, path):
    """Save a matplotlib ``figure`` as PNG at ``path`` (written then renamed); return the path."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, bbox_inches="tight")
    return Path(path)


def run_notebook(name, *, size="full", figures=None, build=None, timeout=1800):
    """Execute ``notebooks/<name>.py`` at ``size``; returns ``(executed .ipynb path, seconds)``.

    Raises nbclient's ``CellExecutionError`` (with the cell and its traceback) when a cell
    fails: a failing notebook is a bug.
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    if name not in NOTEBOOKS:
        raise ParameterError(f"notebook must be one of {', '.join(NOTEBOOKS)}, not {name!r}")
    build = Path(build or ROOT / "build" / "notebooks").resolve()
    environment = {"TRITFORGE_NOTEBOOK_SIZE": size, "TRITFORGE_NOTEBOOK_BUILD": str(build)}
    if figures is not None:
        environment["TRITFORGE_FIGURES"] = str(Path(figures).resolve())
    notebook = jupytext.read(NOTEBOOK_DIR / f"{name}.py")
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)  # the kernel inherits this process' environment
    start = time.perf_counter()
    try:
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.perf_counter() - start
    path = build / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path, seconds


@click.command()
@click.argument("names", nargs=-1)
@click.option("--size", type=click.Choice(SIZES), default="full", show_default=True)
@click.option("--figures", type=click.Path(file_okay=False), default=None,
              help="Figure folder [default: docs/figures].")
def main(names, size, figures):
    """Execute the notebooks (all by default) and write them, with outputs, to build/notebooks."""
    for name in names or NOTEBOOKS:
        path, seconds = run_notebook(name, size=size, figures=figures)
        click.echo(f"{name}: {seconds:.1f} s -> {path}")


if __name__ == "__main__":
    main()
