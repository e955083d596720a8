# amaranth: UnusedElaboratable=no
# (a unit whose constructor rejects a parameter would otherwise warn "never used")
"""Generate a matrix unit as Verilog plus a JSON manifest describing it.

``generate(...)`` writes ``<out_dir>/<name>.v`` and ``<out_dir>/<name>.json``; the
manifest gives the parameters, latency, accumulator width and every Verilog port with
its direction, width and (for the stream payloads) the bit offset of each field, which
is what a cocotb or Verilator testbench needs to pack chunks and unpack results.
:data:`generate_command` is the same as a click command (``tritforge generate``).
"""

import json
import logging
from importlib import metadata
from pathlib import Path

import click
from amaranth.back import verilog

from tritforge.hdl.int_matrix_unit import IntMatrixUnit
from tritforge.hdl.matrix_unit import TernaryMatrixUnit

__all__ = ["KINDS", "build_unit", "generate", "generate_command", "manifest", "unit_name"]

logger = logging.getLogger(__name__)

#: Unit kinds and the class that builds each.
KINDS = {"ternary": TernaryMatrixUnit, "int": IntMatrixUnit}

_PROTOCOL = (
    "i: one chunk per transfer (valid/ready, AXI4-Stream-like: a transfer happens on a "
    "rising clk edge with valid and ready high). o: one result per dot product, sent "
    "`latency` cycles after its `last` chunk when o__ready is high. rst: synchronous, "
    "active high. Payload fields are packed LSB first at the offsets listed; array "
    "element k of width w sits at offset + k*w."
)


def build_unit(kind, rows, cols, act_bits, max_k, pipeline, *, weight_bits=8):
    """The matrix unit of ``kind`` (``"ternary"`` or ``"int"``) with these parameters.

    Raises
    ------
    ValueError, TypeError
        If ``kind`` is unknown or a parameter is out of range (from the unit itself).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "int":
        return IntMatrixUnit(rows, cols, act_bits=act_bits, weight_bits=weight_bits,
                             max_k=max_k, pipeline=pipeline)
    return TernaryMatrixUnit(rows, cols, act_bits=act_bits, max_k=max_k, pipeline=pipeline)


def unit_name(kind, unit):
    """Module and file name, e.g. ``ternary_mu_r8_c32_a8_k4096_p1``."""
    weights = f"_w{unit.weight_bits}" if kind == "int" else ""
    return (f"{kind}_mu_r{unit.rows}_c{unit.cols}_a{unit.act_bits}{weights}"
            f"_k{unit.max_k}_p{unit.pipeline}")


def manifest(kind, unit, name):
    """JSON-ready description of a generated unit (see the module docstring)."""
    parameters = {"rows": unit.rows, "cols": unit.cols, "act_bits": unit.act_bits,
                  "max_k": unit.max_k, "pipeline": unit.pipeline, "acc_bits": unit.acc_bits}
    if kind == "int":
        parameters["weight_bits"] = unit.weight_bits
    return {
        "name": name,
        "kind": kind,
        "top": name,
        "verilog": f"{name}.v",
        "generator": {"tritforge": _version("tritforge"), "amaranth": _version("amaranth")},
        "parameters": parameters,
        "latency": unit.latency,
        "accumulator_bits": unit.acc_bits,
        "clock": "clk",
        "reset": {"name": "rst", "synchronous": True, "active": "high"},
        "protocol": _PROTOCOL,
        "ports": unit.describe_ports(),
    }


def generate(rows, cols, act_bits, max_k, pipeline, out_dir, kind="ternary", *,
             weight_bits=8):
    """Write ``<out_dir>/<name>.v`` and ``<out_dir>/<name>.json`` for one matrix unit.

    Parameters are those of :func:`build_unit`; ``out_dir`` is created if missing.

    Returns
    -------
    dict
        The manifest, plus ``verilog_path`` and ``manifest_path`` (not in the file).

    Raises
    ------
    ValueError, TypeError
        If a parameter is out of range (nothing is written).
    """
    unit = build_unit(kind, rows, cols, act_bits, max_k, pipeline, weight_bits=weight_bits)
    name = unit_name(kind, unit)
    description = manifest(kind, unit, name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    verilog_path, manifest_path = out / f"{name}.v", out / f"{name}.json"
    verilog_path.write_text(verilog.convert(unit, name=name, ports=unit.verilog_ports()))
    manifest_path.write_text(json.dumps(description, indent=2) + "\n")
    logger.info("wrote %s and %s", verilog_path, manifest_path)
    return {**description, "verilog_path": str(verilog_path), "manifest_path": str(manifest_path)}


def _version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@click.command("generate")
@click.option("--rows", type=int, default=8, show_default=True, help="Output rows M.")
@click.option("--cols", type=int, default=32, show_default=True, help="Lanes N per chunk.")
@click.option("--act-bits", type=int, default=8, show_default=True, help="Activation width.")
@click.option("--max-k", type=int, default=4096, show_default=True,
              help="Longest dot product without overflow.")
@click.option("--pipeline", type=int, default=1, show_default=True,
              help="Tree levels per pipeline register (0: combinational trees).")
@click.option("--kind", type=click.Choice(sorted(KINDS)), default="ternary", show_default=True,
              help="Ternary unit, or the multiplying integer baseline.")
@click.option("--weight-bits", type=int, default=8, show_default=True,
              help="Weight width of the int kind.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="build/generated",
              show_default=True, help="Output folder.")
def generate_command(rows, cols, act_bits, max_k, pipeline, kind, weight_bits, out_dir):
    """Generate a matrix unit as Verilog plus a JSON manifest of its ports."""
    try:
        result = generate(rows, cols, act_bits, max_k, pipeline, out_dir, kind,
                          weight_bits=weight_bits)
    except (ValueError, TypeError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(result["verilog_path"])
    click.echo(result["manifest_path"])
