"""The application on top of every subpackage: the ``tritforge`` command line.

:mod:`.cli` (the click group and its error policy), :mod:`.commands` (``generate``,
``synth``, ``energy``, ``compare``), :mod:`.demo` (``tritforge demo``: a BitNet layer through
the RTL, synthesis and energy) and :mod:`.compare` (the ternary-vs-INT8 table). It may use
every layer below it: ``spec``, ``golden``, ``hdl``, ``sim`` and ``flows``.
"""

from .cli import main

__all__ = ["main"]
