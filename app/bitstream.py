"""``tritforge bitstream``: the accelerator as a bitstream for a board, with its UART host link.

Builds :func:`~tritforge.flows.bitstream.build_bitstream` for ``--board`` (``icebreaker``:
iCE40 UP5K; ``ulx3s-85f``: ECP5 LFE5U-85F) from the design options (``--config`` and the
inline options of :class:`~tritforge.spec.params.AcceleratorParams`), prints the utilisation,
the achieved Fmax against the clock and the tiny model's tokens/s at the baud rate (the
link model, :mod:`tritforge.sim.link_model`), writes ``<out>/<board>/report.json`` and the
bitstream. A missed clock is one error line (exit status 2). ``--program`` loads the
bitstream with ``openFPGALoader`` or ``iceprog`` when one is installed.
"""

import subprocess

import click

from ..flows.bitstream import build_bitstream, find_programmer, program_command
from ..flows.boards import BOARDS, DEFAULT_BAUD
from ..flows.flow import default_cache_dir
from ..flows.timing import MAX_SEED
from ..flows.tools import ToolError
from ..sim.link_model import model_token_time
from ..spec.formats import MODEL_SHAPES
from ..spec.io import check_writable_folder
from ..spec.link import LinkParams
from ..spec.params import AcceleratorParams
from .commands import design_options, output_options, print_table
from .performance import accelerator_design

__all__ = ["bitstream_command", "bitstream_rows"]


def bitstream_rows(report):
    """``(quantity, value)`` rows of the human table."""
    rows = [("board", f"{report['board']} ({report['device']})"),
            ("clock", f"{report['clock_mhz']:g} MHz requested ({report['pll']['primitive']} from "
                      f"{report['pll']['input_mhz']:g} MHz), {report['fmax_mhz']:g} MHz achieved: "
                      f"{'met' if report['met'] else 'NOT MET'}"),
            ("UART", f"{report['baud']:,} baud (divider {report['link']['baud_divider']}, "
                     f"{100 * report['baud_error']:+.2f} %)"),
            ("weight store", f"{report['link']['store_depth']:,} words of "
                             f"{report['design']['stream_width']} bits")]
    rows += [(f"use: {bel}", f"{use['used']:,} / {use['available']:,} "
                             f"({100 * use['used'] / use['available']:.0f} %)")
             for bel, use in sorted(report["utilization"].items())]
    if "tiny_tokens_per_s" in report:
        low, high = report["tiny_tokens_per_s"]
        rows.append(("tiny model", f"{low:.1f} to {high:.1f} tokens/s at this baud rate "
                                   f"(link model, host turnaround 0)"))
    rows.append(("build", "cached" if report["cached"] else f"{report['seconds']} s"))
    return [{"quantity": quantity, "value": value} for quantity, value in rows]


@click.command("bitstream")
@click.option("--board", type=click.Choice(sorted(BOARDS)), required=True, help="The board.")
@design_options((AcceleratorParams,))
@click.option("--clock", "clock_mhz", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Core clock in MHz (made by the PLL) [default: the board's: "
                   + ", ".join(f"{name} {board.default_clock_mhz:g}" for name, board in BOARDS.items())
                   + "].")
@click.option("--baud", type=click.IntRange(min=1), default=DEFAULT_BAUD, show_default=True,
              help="UART baud rate of the host link.")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=1, show_default=True, help="Placer seed.")
@click.option("--program", is_flag=True, help="Load the bitstream onto the board (openFPGALoader or iceprog).")
@output_options("build/bitstream")
def bitstream_command(board, config_path, clock_mhz, baud, seed, program, out_dir, no_cache, cache_dir,
                      **options):
    """Synthesize, place, route and pack the accelerator for a board (UART link, resident
    weight store); print utilisation and Fmax; write the bitstream and a JSON report."""
    design = accelerator_design(config_path, options, AcceleratorParams())
    if program:
        find_programmer(board)  # no programmer: one error before the build, not after it
    check_writable_folder(out_dir)
    check_writable_folder(cache_dir or default_cache_dir())
    report = build_bitstream(board, design, clock_mhz=clock_mhz, baud=baud, seed=seed,
                             out_dir=f"{out_dir}/{board}", cache_dir=cache_dir, no_cache=no_cache)
    lower, upper = model_token_time(design, LinkParams(**report["link"]),
                                    MODEL_SHAPES["tiny"].linear_shapes(), report["clock_mhz"] * 1e6, baud)
    report["tiny_tokens_per_s"] = [round(1 / upper, 2), round(1 / lower, 2)]
    print_table(f"{design.name} on {board}", bitstream_rows(report))
    click.echo(report["bitstream"])
    if program:
        command = program_command(board, report["bitstream"])
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            raise ToolError(f"{command[0]} failed ({result.returncode}): "
                            f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
        click.echo(f"programmed with {command[0]}")
