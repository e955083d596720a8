"""The electrical model of the switching-activity estimate: from toggles to energy.

A toggle of a cell's output costs ``0.5 * C * Vdd**2`` with ``C`` the cell's transistor
count (Yosys' CMOS estimate, :data:`CMOS_TRANSISTORS`) times a capacitance per
transistor; every flip-flop's clock input switches twice per cycle and costs its clocked
transistors' share. The capacitance per transistor of :data:`SWITCHING_45NM` is
calibrated so that a synthesized 8-bit adder with uniformly random inputs spends
Horowitz's 0.03 pJ per add at 45 nm, 0.9 V (:func:`tritforge.flows.activity.adder_energy`;
``benchmarks/flows.py --calibrate`` recomputes it).
"""

import dataclasses

__all__ = ["CMOS_TRANSISTORS", "FLIP_FLOP", "SWITCHING_45NM", "SwitchingModel", "switching_energy"]

#: The flip-flop of the generic netlist (``dfflegalize -cell $_DFF_P_ 01``).
FLIP_FLOP = "$_DFF_P_"

#: Transistors per cell of Yosys' internal gate library, as ``stat -tech cmos`` counts them
#: (Yosys ``kernel/cost.cc``); the estimate checks that their sum reproduces Yosys' own.
CMOS_TRANSISTORS = {
    "$_BUF_": 1, "$_NOT_": 2, "$_AND_": 6, "$_NAND_": 4, "$_OR_": 6, "$_NOR_": 4,
    "$_ANDNOT_": 6, "$_ORNOT_": 6, "$_XOR_": 12, "$_XNOR_": 12, "$_AOI3_": 6, "$_OAI3_": 6,
    "$_AOI4_": 8, "$_OAI4_": 8, "$_MUX_": 12, "$_NMUX_": 10, FLIP_FLOP: 16,
}


@dataclasses.dataclass(frozen=True)
class SwitchingModel:
    """Electrical assumptions that turn toggles into energy.

    Attributes
    ----------
    name : str
    vdd : float
        Supply voltage (V).
    c_per_transistor_ff : float
        Switched capacitance per transistor of a cell, fF (gate, diffusion and its share of
        wiring), for one toggle of the cell's output.
    clock_transistors_per_ff : int
        Transistors of a flip-flop driven by the clock (both edges switch them).
    source : str
        Where the numbers come from.
    """
    name: str
    vdd: float
    c_per_transistor_ff: float
    clock_transistors_per_ff: int
    source: str

    def toggle_pj(self, transistors):
        """Energy (pJ) of one output toggle of a cell of ``transistors`` transistors."""
        return 0.5 * transistors * self.c_per_transistor_ff * 1e-3 * self.vdd ** 2

    def clock_pj(self):
        """Clock energy (pJ) of one flip-flop in one cycle (two clock edges)."""
        return 2 * self.toggle_pj(self.clock_transistors_per_ff)


#: 45 nm at 0.9 V (Horowitz' node), calibrated on an 8-bit adder (module docstring).
SWITCHING_45NM = SwitchingModel(
    name="45nm_0.9V", vdd=0.9, c_per_transistor_ff=0.331, clock_transistors_per_ff=8,
    source="Vdd of Horowitz ISSCC 2014 (45 nm, 0.9 V); capacitance per transistor fitted so "
           "that a Yosys-synthesized 8-bit adder with uniform random inputs spends 0.03 pJ per "
           "add (Horowitz' 8-bit add); half of a flip-flop's 16 transistors clocked.")


def switching_energy(toggles, flip_flops, cycles, model=SWITCHING_45NM):
    """Dynamic energy (pJ) of a netlist's cell-output toggles over ``cycles`` clock cycles.

    Parameters
    ----------
    toggles : dict of str to int
        Output toggles of all cells of each type (:data:`CMOS_TRANSISTORS` names).
    flip_flops : int
        Flip-flops of the netlist: each one's clock input switches every cycle.
    cycles : int
    model : SwitchingModel

    Returns
    -------
    dict
        ``logic_pj`` (combinational cell outputs), ``ff_pj`` (flip-flop outputs),
        ``clock_pj`` (clock inputs of every flip-flop, every cycle), ``total_pj``, and the
        toggle counts ``logic_toggles`` / ``ff_toggles``.

    Raises
    ------
    ValueError
        If a cell type of ``toggles`` is not in :data:`CMOS_TRANSISTORS`.
    """
    unknown = sorted(set(toggles) - set(CMOS_TRANSISTORS))
    if unknown:
        raise ValueError(f"toggles must be by cell type of CMOS_TRANSISTORS, not {', '.join(unknown)}")
    logic = {kind: count for kind, count in toggles.items() if kind != FLIP_FLOP}
    logic_pj = model.toggle_pj(sum(CMOS_TRANSISTORS[kind] * count for kind, count in logic.items()))
    ff_toggles = toggles.get(FLIP_FLOP, 0)
    ff_pj = model.toggle_pj(CMOS_TRANSISTORS[FLIP_FLOP] * ff_toggles)
    clock_pj = flip_flops * cycles * model.clock_pj()
    return {"logic_pj": logic_pj, "ff_pj": ff_pj, "clock_pj": clock_pj,
            "total_pj": logic_pj + ff_pj + clock_pj,
            "logic_toggles": sum(logic.values()), "ff_toggles": ff_toggles}
