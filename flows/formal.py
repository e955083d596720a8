"""Formal proofs of the hardware's properties with Yosys ``sat`` (no extra solver).

A property is a *harness* (:mod:`tritforge.flows.properties`): an Amaranth component that
instantiates a block, drives the block's inputs from its own free inputs, and states
``Assume``/``Assert`` cells about the block's ports. :func:`prove` converts the harness to
RTLIL, flattens it, maps its memories to flip-flops and asks ``sat`` to prove every assert
from the initial state (every register at its reset value; ``rst`` is a free input, so
the properties hold across resets too, unless a harness assumes it low):

* ``"induction"``: ``sat -tempinduct``: a base case and an inductive step of growing length,
  up to ``depth`` steps; proven when some step length ``k <= depth`` is inductive (k-induction,
  holds for every reachable state);
* ``"bmc"``: bounded model check, ``sat -tempinduct-baseonly``: no assert fails in the first
  ``depth`` cycles after reset (says nothing beyond).

Memories are mapped to flip-flops (``memory_map``), or with ``free_memories`` removed: every
read port then returns a free value each cycle, whatever was written (an over-approximation:
a property proven so holds for any memory contents, so for the real ones too). A big
design's banks as flip-flops are most of its state (the default accelerator: ~38,000 bits),
and a property about control, not data, does not need them.

Asserts never reach synthesis: the flows remove them (``chformal -remove``).
"""

import dataclasses
import re
import tempfile
import time
from pathlib import Path

from amaranth.back import rtlil

from .tools import ToolError, find_yosys, run_tool

__all__ = ["ProofResult", "prove", "METHODS"]

METHODS = ("induction", "bmc")
_TOP = "harness"


@dataclasses.dataclass(frozen=True)
class ProofResult:
    """The outcome of :func:`prove`.

    Attributes
    ----------
    proven : bool
        No assert can fail (induction), or none fails within ``depth`` cycles (bmc).
    method : str
        ``"induction"`` or ``"bmc"``.
    depth : int
        The step limit given.
    steps : int or None
        Induction: the length of the inductive step that closed the proof.
    seconds : float
        Wall time of the Yosys run (conversion not included).
    log : str
        Yosys's output.
    """
    proven: bool
    method: str
    depth: int
    steps: int | None
    seconds: float
    log: str


def _script(method, depth, free_memories):
    if method == "induction":
        check = f"sat -tempinduct -maxsteps {depth}"
    else:
        check = f"sat -tempinduct -tempinduct-baseonly -maxsteps {depth}"
    # `sat` has no model of memory cells: memory_map makes them flip-flops; or they go, and
    # the wires their read ports drove are left undriven, which `sat` takes as free.
    memories = "delete t:$memrd_v2 t:$memwr_v2 t:$meminit_v2" if free_memories else "memory_map"
    return (f"read_rtlil {_TOP}.il; hierarchy -top {_TOP}; proc; flatten; {memories}; opt_clean; "
            f"async2sync; {check} -prove-asserts -set-assumes -set-init-zero -show-inputs -show-regs -verify {_TOP}")


def prove(harness, method="induction", depth=20, folder=None, free_memories=False):
    """Prove the asserts of ``harness`` (a ``wiring.Component``: its ports are the free inputs).

    Returns a :class:`ProofResult`; a failed proof is a result (``proven`` false), a failed
    tool run (a syntax error, a crash) raises :class:`~tritforge.flows.tools.ToolError`.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive integer, not {depth!r}")
    text = rtlil.convert(harness, name=_TOP)
    with tempfile.TemporaryDirectory(prefix="formal_", dir=folder) as work:
        Path(work, f"{_TOP}.il").write_text(text)
        script = _script(method, depth, free_memories)
        Path(work, "prove.ys").write_text(script + "\n")
        start = time.perf_counter()
        failure = None
        try:
            run_tool(work, [find_yosys(), "-q", "-l", "prove.log", "-s", "prove.ys"], "prove.log")
        except ToolError as error:
            failure = error
        seconds = time.perf_counter() - start
        log = Path(work, "prove.log").read_text() if Path(work, "prove.log").exists() else ""
    proven = failure is None
    # Only `-verify`'s own message means a failed proof: a crash (e.g. out of memory) is
    # not one, and the logs list registers such as the command decoder's `failed`.
    if not proven and "proof did fail" not in log:
        raise ToolError(f"yosys did not finish the proof: {failure}")
    return ProofResult(proven=proven, method=method, depth=depth, steps=_induction_steps(log),
                       seconds=seconds, log=log)


def _induction_steps(log):
    """The step length at which ``sat -tempinduct`` found the induction to hold."""
    found = re.search(r"Induction step proven: SUCCESS!", log)
    if not found:
        return None
    steps = re.findall(r"\[induction step (\d+)\]", log[:found.start()])
    return int(steps[-1]) if steps else None
