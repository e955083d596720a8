"""Ternary matrix unit against the INT8 baseline at the same rows x cols: one table.

:func:`compare` runs the same flow steps (:mod:`tritforge.flows.flow`, cached) on a
:class:`~tritforge.hdl.matrix_unit.TernaryMatrixUnit` and an
:class:`~tritforge.hdl.int_matrix_unit.IntMatrixUnit` of the same shape (with ``group``,
also a :class:`~tritforge.hdl.lookup_matrix_unit.LookupMatrixUnit` of that group) and
:func:`comparison_rows` lines the figures up with their ratio (int / ternary: how many
times more the baseline needs; lookup / ternary). A step that fails for one design (typically: the design
does not fit the FPGA) leaves its figures empty and its reason in ``errors``.

``tritforge compare 8x32 16x64`` prints the tables as Markdown (``docs/comparison.md`` is
made this way).
"""

from pathlib import Path

from ..flows.flow import FlowConfig, run_flow
from ..spec.errors import TritforgeError
from ..spec.params import UNIT_KINDS, UnitParams

__all__ = ["METRICS", "DEFAULT_STEPS", "compare", "compared_designs", "comparison_rows", "to_markdown",
           "error_summary"]

#: Steps of a full comparison.
DEFAULT_STEPS = ("synth_generic", "synth_ice40_nodsp", "synth_ice40", "synth_ecp5",
                 "timing_ice40", "timing_ecp5", "energy", "activity")

#: ``(label, step, path into the step's report)`` of each table row.
METRICS = (
    ("transistors (CMOS estimate)", "synth_generic", ("transistors",)),
    ("transistors per lane", "synth_generic", ("derived", "transistors_per_lane")),
    ("transistors per lane x act bit", "synth_generic", ("derived", "transistors_per_lane_bit")),
    ("flip-flops", "synth_generic", ("ff",)),
    ("iCE40 LUT4, no DSP", "synth_ice40_nodsp", ("logic_luts",)),
    ("iCE40 LUT4 per lane, no DSP", "synth_ice40_nodsp", ("derived", "logic_luts_per_lane")),
    ("iCE40 LUT4 with DSP", "synth_ice40", ("logic_luts",)),
    ("iCE40 DSP (SB_MAC16)", "synth_ice40", ("dsp",)),
    ("ECP5 LUT4", "synth_ecp5", ("logic_luts",)),
    ("ECP5 LUT4 per lane", "synth_ecp5", ("derived", "logic_luts_per_lane")),
    ("ECP5 DSP (MULT18X18D)", "synth_ecp5", ("dsp",)),
    ("Fmax iCE40 UP5K (MHz)", "timing_ice40", ("fmax_mhz",)),
    ("Fmax ECP5 LFE5U-85F (MHz)", "timing_ecp5", ("fmax_mhz",)),
    ("pJ/MAC, op counts, unit (45 nm)", "energy", ("unit_total_pj_per_mac",)),
    ("pJ/MAC, switching activity (45 nm)", "activity", ("pj_per_mac",)),
)


def compared_designs(rows, cols, group=None):
    """``{kind: UnitParams}`` that :func:`compare` runs: the ternary and the int unit, and
    the lookup unit of ``group`` when it is given (default parameters but for kind, shape
    and group)."""
    kinds = [kind for kind in UNIT_KINDS if kind != "lookup" or group is not None]
    return {kind: UnitParams(kind=kind, rows=rows, cols=cols, group=group if kind == "lookup" else None)
            for kind in kinds}


def compare(rows, cols, *, steps=DEFAULT_STEPS, out_dir="build/compare", cache_dir=None,
            no_cache=False, on_step=None, group=None, kinds=None, **flow_options):
    """Run ``steps`` on the ternary and the int unit of ``rows`` x ``cols`` (and the lookup
    unit of ``group``, if given); ``kinds`` keeps only those units.

    ``flow_options`` go to :class:`~tritforge.flows.flow.FlowConfig` (``clock_mhz``,
    ``zero_share``, ...). The units have the default parameters of
    :class:`~tritforge.spec.params.UnitParams` but for their kind and shape
    (:func:`compared_designs`).

    Returns
    -------
    dict
        ``rows``, ``cols``, ``reports`` (``{"ternary": {step: report}, "int": ...}``) and
        ``errors`` (``{kind: {step: message}}`` of the steps that failed).
    """
    reports, errors = {}, {}
    for kind, design in compared_designs(rows, cols, group).items():
        if kinds is not None and kind not in kinds:
            continue
        reports[kind], errors[kind] = {}, {}
        for step in steps:
            cfg = FlowConfig(design, steps=(step,), out_dir=Path(out_dir) / design.name,
                             cache_dir=cache_dir, no_cache=no_cache, **flow_options)
            try:
                state = run_flow(cfg, on_step=on_step)
            except TritforgeError as error:
                errors[kind][step] = error_summary(str(error))
                continue
            report = state.reports[step]
            if step == "energy":
                report["unit_total_pj_per_mac"] = sum(report["unit_pj_per_mac"].values())
            reports[kind][step] = report
    return {"rows": rows, "cols": cols, "reports": reports, "errors": errors}


def error_summary(message):
    """First line of a tool error and the tool's own ``ERROR`` line from the quoted log."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    complaints = [line for line in lines[1:] if line.upper().startswith("ERROR")]
    if not complaints:
        return lines[0]
    # nextpnr names cells by long generated paths: the start of its complaint says enough.
    complaint = complaints[-1] if len(complaints[-1]) <= 160 else complaints[-1][:157] + "..."
    return f"{lines[0].split(';')[0]} ... {complaint}"


def _lookup(report, path):
    value = report
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _ratio(value, ternary):
    return value / ternary if ternary and value is not None else None


def comparison_rows(result):
    """``[{"metric", "ternary", "int", "ratio"}]``; ``ratio`` is int / ternary (None if
    either is missing or the ternary figure is 0). With a lookup unit in ``result``, also
    ``"lookup"`` and ``"lookup_ratio"`` (lookup / ternary)."""
    rows = []
    for label, step, path in METRICS:
        ternary = _lookup(result["reports"]["ternary"].get(step), path)
        integer = _lookup(result["reports"]["int"].get(step), path)
        row = {"metric": label, "ternary": ternary, "int": integer, "ratio": _ratio(integer, ternary)}
        if "lookup" in result["reports"]:
            lookup = _lookup(result["reports"]["lookup"].get(step), path)
            row.update(lookup=lookup, lookup_ratio=_ratio(lookup, ternary))
        rows.append(row)
    return rows


def format_cell(value):
    """A figure as the comparison tables print it: 3 significant digits, thousands separated."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}"


def _ratio_cell(ratio):
    return "-" if ratio is None else f"{ratio:.2f}x"


def to_markdown(result):
    """The comparison as a Markdown table, with the failed steps listed below it."""
    lookup = "lookup" in result["reports"]
    lines = [f"### {result['rows']} x {result['cols']} ({result['rows'] * result['cols']} lanes)", ""]
    if lookup:
        lines += ["| metric | ternary | lookup | int8 | lookup / ternary | int8 / ternary |",
                  "|---|---:|---:|---:|---:|---:|"]
    else:
        lines += ["| metric | ternary | int8 | int8 / ternary |", "|---|---:|---:|---:|"]
    for row in comparison_rows(result):
        ratio = _ratio_cell(row["ratio"])
        if lookup:
            lines.append(f"| {row['metric']} | {format_cell(row['ternary'])} | {format_cell(row['lookup'])} | "
                         f"{format_cell(row['int'])} | {_ratio_cell(row['lookup_ratio'])} | {ratio} |")
        else:
            lines.append(f"| {row['metric']} | {format_cell(row['ternary'])} | {format_cell(row['int'])} | {ratio} |")
    failures = [(kind, step, message) for kind, steps in result["errors"].items()
                for step, message in steps.items()]
    if failures:
        lines.append("")
        lines += [f"- {kind} `{step}` failed: {message}" for kind, step, message in failures]
    return "\n".join(lines) + "\n"
