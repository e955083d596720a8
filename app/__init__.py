"""The application on top of every subpackage: the ``tritforge`` command line.

:mod:`.cli` (the click group and its error policy), :mod:`.commands` (``generate``,
``synth``, ``energy``, ``compare``), :mod:`.demo` (``tritforge demo``: a BitNet layer through
the RTL, synthesis and energy), :mod:`.compare` (the ternary-vs-INT8 table),
:mod:`.performance` (``tritforge perf``: a whole model on an accelerator) and :mod:`.explore`
(``tritforge explore``: design-space sweeps). It may use every layer below it: ``spec``,
``golden``, ``hdl``, ``sim`` and ``flows``.

``main`` is imported on first use: a sweep's worker process imports :mod:`.explore` without
the command line (and torch, which ``tritforge infer`` needs).
"""

__all__ = ["main"]


def __getattr__(name):
    if name == "main":
        from .cli import main
        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
