"""Generate a matrix unit as Verilog plus a JSON manifest describing it.

``generate(params, out_dir)`` writes ``<out_dir>/<name>.v`` and ``<out_dir>/<name>.json``
(``name`` is :attr:`UnitParams.name <tritforge.spec.params.UnitParams.name>`); the manifest
gives the parameters, latency, accumulator width and every Verilog port with its direction,
width and (for the stream payloads) the bit offset of each field, which is what a cocotb or
Verilator testbench needs to pack chunks and unpack results.
"""

import logging
from importlib import metadata
from pathlib import Path

from ..hdl import verilog
from ..hdl.units import build_unit
from ..spec.io import write_json, write_text_atomic
from ..spec.params import UnitParams, check_params

__all__ = ["generate", "manifest"]

logger = logging.getLogger(__name__)

_PROTOCOL = (
    "i: one chunk per transfer (valid/ready, AXI4-Stream-like: a transfer happens on a "
    "rising clk edge with valid and ready high). o: one result per dot product, sent "
    "`latency` cycles after its `last` chunk when o__ready is high. rst: synchronous, "
    "active high. Payload fields are packed LSB first at the offsets listed; array "
    "element k of width w sits at offset + k*w."
)


def manifest(params, unit):
    """JSON-ready description of ``unit``, built from ``params`` (module docstring)."""
    return {
        "name": params.name,
        "kind": params.kind,
        "top": params.name,
        "verilog": f"{params.name}.v",
        "generator": {"tritforge": _version("tritforge"), "amaranth": _version("amaranth")},
        "parameters": {**params.to_dict(), "acc_bits": unit.acc_bits},
        "latency": unit.latency,
        "accumulator_bits": unit.acc_bits,
        "clock": "clk",
        "reset": {"name": "rst", "synchronous": True, "active": "high"},
        "protocol": _PROTOCOL,
        "ports": unit.describe_ports(),
    }


def generate(params, out_dir):
    """Write ``<out_dir>/<name>.v`` and ``<out_dir>/<name>.json`` for the unit of ``params``
    (a :class:`~tritforge.spec.params.UnitParams`); ``out_dir`` is created if missing.

    Returns
    -------
    dict
        The manifest, plus ``verilog_path`` and ``manifest_path`` (not in the file).

    Raises
    ------
    OSError
        If ``out_dir`` cannot be written (nothing is left half-written).
    """
    check_params(params, UnitParams)
    unit = build_unit(params)
    description = manifest(params, unit)
    text = verilog.convert(unit, name=params.name, ports=unit.verilog_ports())
    out = Path(out_dir)
    verilog_path = write_text_atomic(out / f"{params.name}.v", text)
    manifest_path = write_json(out / f"{params.name}.json", description)
    logger.info("wrote %s and %s", verilog_path, manifest_path)
    return {**description, "verilog_path": str(verilog_path), "manifest_path": str(manifest_path)}


def _version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
