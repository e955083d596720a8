"""Verilog of an Amaranth design that runs as is on every simulator users have.

Yosys' Verilog backend (which ``amaranth.back.verilog`` calls) makes every ``always @*``
block run once at time 0 through a variable initialiser (``reg ...dump_module$N = 0;``) that
each block reads. Icarus Verilog 11 does not treat an initialiser as an event at time 0, so
a combinational block whose inputs do not change during reset keeps ``x`` (on the
accelerator top: ``s_axis_tready``). :func:`convert` turns each such initialiser into an
``initial`` assignment, an event under every language mode of Icarus and Verilator; the
logic is unchanged. Everything tritforge hands out or simulates goes through it.
"""

import re

from amaranth.back import verilog

__all__ = ["convert", "fix_time_zero"]

_TIME_ZERO_TRIGGER = re.compile(
    r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$", re.MULTILINE)


def fix_time_zero(text):
    """Yosys Verilog ``text`` with its time-0 triggers made ``initial`` assignments."""
    return _TIME_ZERO_TRIGGER.sub(r"\1reg \2;\n\1initial \2 = 0;", text)


def convert(component, name, ports=None, **options):
    """``amaranth.back.verilog.convert`` (same arguments) with :func:`fix_time_zero`."""
    return fix_time_zero(verilog.convert(component, name=name, ports=ports, **options))
