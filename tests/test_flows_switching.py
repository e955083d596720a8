"""flows.switching: the electrical model and the energy of toggles."""

import pytest

from tritforge.flows.switching import CMOS_TRANSISTORS, SWITCHING_45NM, switching_energy


def test_toggle_and_clock_energy():
    model = SWITCHING_45NM
    # 0.5 * C * Vdd^2 with C = 12 transistors * 0.331 fF, Vdd = 0.9 V.
    assert model.toggle_pj(12) == pytest.approx(0.5 * 12 * 0.331e-3 * 0.9 ** 2)
    assert model.clock_pj() == pytest.approx(2 * model.toggle_pj(8))


def test_energy_charges_the_driving_cell():
    model = SWITCHING_45NM
    energy = switching_energy({"$_XOR_": 5, "$_NOT_": 3, "$_DFF_P_": 3}, flip_flops=2, cycles=7)
    assert energy["logic_pj"] == pytest.approx(5 * model.toggle_pj(12) + 3 * model.toggle_pj(2))
    assert energy["ff_pj"] == pytest.approx(3 * model.toggle_pj(16))
    assert energy["clock_pj"] == pytest.approx(2 * 7 * model.clock_pj())
    assert energy["total_pj"] == pytest.approx(energy["logic_pj"] + energy["ff_pj"] + energy["clock_pj"])
    assert (energy["logic_toggles"], energy["ff_toggles"]) == (8, 3)


def test_every_generic_gate_has_a_transistor_count():
    assert CMOS_TRANSISTORS["$_DFF_P_"] == 16 and CMOS_TRANSISTORS["$_MUX_"] == 12
    assert switching_energy(dict.fromkeys(CMOS_TRANSISTORS, 0), 0, 1)["total_pj"] == 0


def test_unknown_cell_type():
    with pytest.raises(ValueError, match=r"^toggles must be by cell type of CMOS_TRANSISTORS, "
                                         r"not \$_DLATCH_P_$"):
        switching_energy({"$_DLATCH_P_": 1}, 0, 1)
