# amaranth: UnusedElaboratable=no
"""flows.energy: tables, interpolation, the paper's 71.4x, the hardware structure, workloads."""

import json
import math

import pytest

from tritforge.flows.energy import (CATEGORIES, HardwareModel, MemoryGeometry, UnitStructure,
                                    hardware_model, load_table, paper_matmul_energy, paper_ratio,
                                    parse_workload, workload_energy)
from tritforge.hdl.ternary_dot import TernaryDot
from tritforge.hdl.units import build_unit
from tritforge.spec.errors import ParameterTypeError
from tritforge.spec.params import AcceleratorParams, UnitParams


@pytest.fixture(scope="module")
def h45():
    return load_table("horowitz_45nm")


@pytest.fixture(scope="module")
def b7():
    return load_table("bitnet_7nm")


class TestTables:
    def test_paper_headline_ratio_7nm(self, b7):
        # BitNet b1.58: FP16 needs a multiply and an add per MAC, BitNet b1.58 an INT8 add;
        # the paper reports 71.4x less matmul arithmetic energy at 7 nm.
        layers = [("q_proj", 2560, 2560), ("down_proj", 2560, 6912)]
        assert round(paper_ratio(b7, layers, tokens=4), 1) == 71.4

    def test_paper_energy_counts_ops_per_mac(self, h45):
        assert paper_matmul_energy("fp16", h45, 10) == pytest.approx(10 * (1.1 + 0.4))
        assert paper_matmul_energy("int8", h45, 10) == pytest.approx(10 * (0.2 + 0.1))
        assert paper_matmul_energy("bitnet_b158", h45, 10) == pytest.approx(10 * 0.03)

    def test_paper_scheme_wrong(self, h45):
        with pytest.raises(ValueError, match=r"^scheme must be one of fp16, fp32, int8, bitnet_b158, not 'fp8'$"):
            paper_matmul_energy("fp8", h45, 1)

    def test_table_points_and_sources(self, h45, b7):
        assert (h45.add(8), h45.add(32), h45.mult(8), h45.mult(32)) == (0.03, 0.1, 0.2, 3.1)
        assert (b7.add(8), b7.add(32), b7.mult(8), b7.mult(32)) == (0.007, 0.03, 0.07, 1.48)
        assert (b7.float_op("fp16", "add"), b7.float_op("fp16", "mult")) == (0.16, 0.34)
        assert "ISSCC 2014" in h45.source and "2402.17764" in b7.source
        # The 7 nm table borrows its memory figures (and says so).
        assert b7.sram_read_64bit_pj == h45.sram_read_64bit_pj
        assert any("unscaled" in note for note in b7.notes)

    def test_add_is_linear_in_bits(self, h45):
        assert h45.add(12) == pytest.approx((h45.add(8) + h45.add(16)) / 2)
        assert h45.add(64) == pytest.approx(2 * h45.add(32))
        assert h45.add(4) == pytest.approx(h45.add(8) / 2)

    def test_mult_is_quadratic_in_bits(self, h45):
        expected = 0.2 + (16 ** 2 - 8 ** 2) / (32 ** 2 - 8 ** 2) * (3.1 - 0.2)
        assert h45.mult(16) == pytest.approx(expected)
        assert h45.mult(8, 32) == pytest.approx(h45.mult(16))
        assert h45.mult(4) == pytest.approx(h45.mult(8) / 4)

    def test_sram_power_law_in_size_linear_in_bits(self, h45):
        assert h45.sram(64, 8192) == pytest.approx(10)
        assert h45.sram(32, 8192) == pytest.approx(5)
        assert h45.sram(64, 16384) == pytest.approx(10 * math.sqrt(2))
        assert h45.sram(64, 4096) == pytest.approx(10 / math.sqrt(2))
        assert h45.sram(64, 1 << 20) == pytest.approx(100)

    def test_dram_points(self, h45):
        assert h45.dram_bits(64, "low") == 1300
        assert h45.dram_bits(64) == pytest.approx(1950)
        assert h45.dram_bits(8, "high") == pytest.approx(325)

    def test_dram_point_wrong(self, h45):
        with pytest.raises(ValueError, match=r"^dram point must be one of low, mid, high, not 'max'$"):
            h45.dram_bits(64, "max")

    def test_float_op_wrong(self, h45):
        with pytest.raises(ValueError, match=r"^float operation must be one of fp16\.add, .*, not bf16\.add$"):
            h45.float_op("bf16", "add")

    def test_width_wrong(self, h45):
        with pytest.raises(ValueError, match=r"^bits must be a positive number, not 0$"):
            h45.add(0)

    def test_load_table_wrong(self):
        with pytest.raises(ValueError, match=r"^energy table must be one of horowitz_45nm, bitnet_7nm "
                                             r"or a JSON file, not 'nope'$"):
            load_table("nope")

    def test_load_table_from_file(self, tmp_path):
        fields = {"name": "mine", "node": "x", "source": "made up for a test",
                  "add_pj": {"8": 1.0}, "mult_pj": {"8": 2.0}, "float_pj": {},
                  "memory_from": "horowitz_45nm"}
        path = tmp_path / "mine.json"
        path.write_text(json.dumps(fields))
        table = load_table(str(path))
        assert (table.name, table.add(16), table.mult(16)) == ("mine", 2.0, 8.0)
        assert table.sram(64, 8192) == pytest.approx(10)


@pytest.mark.synth
@pytest.mark.parametrize("kind, rows, cols, pipeline, group", [
    ("ternary", 2, 4, 1, None), ("ternary", 3, 8, 0, None), ("ternary", 2, 5, 2, None), ("int", 2, 4, 1, None),
    ("int", 2, 8, 3, None), ("lookup", 2, 7, 1, 2),
    # ~11 s each (the tables and multiplexers of group 3)
    pytest.param("lookup", 3, 8, 2, 3, marks=pytest.mark.slow), pytest.param("lookup", 2, 6, 0, 3, marks=pytest.mark.slow),
])
def test_register_bits_match_synthesized_flip_flops(kind, rows, cols, pipeline, group):
    # The hardware's own count (MatrixUnitBase.structure) against the flip-flops Yosys keeps.
    from tritforge.flows.synth import synthesize
    unit = build_unit(UnitParams(kind=kind, rows=rows, cols=cols, act_bits=8, max_k=64, pipeline=pipeline,
                                 group=group))
    assert unit.structure().register_bits == synthesize(unit, "ice40", top_name="unit")["ff"]
    assert UnitStructure.of(unit).register_bits == unit.structure().register_bits


def _unit(**fields):
    return UnitParams(**{"rows": 4, "cols": 16, **fields})


class TestUnitStructure:
    @pytest.mark.parametrize("cols", [1, 2, 5, 16, 33])
    def test_ternary_tree_matches_hardware(self, cols):
        params = UnitParams(kind="ternary", rows=2, cols=cols, act_bits=6, max_k=300, pipeline=1)
        structure = UnitStructure.from_params(params)
        dot = TernaryDot(cols, 6, pipeline=1, raw=True)
        unit = build_unit(params)
        assert len(structure.adder_widths) == cols - 1
        if cols > 1:
            # The root adder is as wide as the elaborated dot product's partial sum.
            assert max(structure.adder_widths) == len(dot.partial)
        assert (structure.acc_bits, structure.latency) == (unit.acc_bits, unit.latency)
        assert len(unit.o.payload.acc[0]) == structure.acc_bits

    def test_int_has_multipliers_and_wider_adders(self):
        ternary = UnitStructure.from_params(_unit())
        integer = UnitStructure.from_params(_unit(kind="int"))
        unit = build_unit(_unit(kind="int"))
        assert (integer.acc_bits, integer.latency) == (unit.acc_bits, unit.latency)
        assert integer.multipliers == ((8, 8),) * 16 and ternary.multipliers == ()
        # First level: two int8 x int8 products reach 2 * 2**14 (17 bits signed); two ternary
        # leaves of int8 plus a carry stay within 9 bits.
        assert min(integer.adder_widths) == 17 and min(ternary.adder_widths) == 9
        assert (integer.weight_bits, ternary.weight_bits) == (8, 2)

    @pytest.mark.parametrize("params", [
        _unit(), _unit(kind="int", rows=3, cols=5, pipeline=0), _unit(rows=7, cols=33, pipeline=3),
        _unit(kind="int", rows=2, cols=8, weight_bits=4, max_k=9, pipeline=2),
        _unit(kind="lookup", rows=3, cols=10, group=3), _unit(kind="lookup", rows=2, cols=7, group=5, pipeline=0),
    ])
    def test_params_and_unit_agree(self, params):
        # from_params reads a one-row unit (fast for big units); of() the whole unit.
        assert UnitStructure.from_params(params) == UnitStructure.of(build_unit(params))

    #: Figures of the structure that the energy model had before it read the hardware's
    #: own description (``flows/energy.py`` at c8c5a42): ``(params, acc_bits,
    #: register_bits, latency, adders per row, sum of adder widths)``. Every figure of a
    #: grid of 19,200 units and 261 workload reports was compared when the model moved.
    PINNED = [
        (UnitParams(kind="ternary", rows=16, cols=64, pipeline=2), 21, 4281, 3, 63, 624),
        (UnitParams(kind="int", rows=64, cols=64, pipeline=0), 28, 3202, 1, 63, 1128),
        (UnitParams(kind="ternary", rows=3, cols=33, act_bits=4, max_k=300, pipeline=3), 13, 195, 2, 32, 191),
        (UnitParams(kind="int", rows=3, cols=17, max_k=300, pipeline=1, weight_bits=16), 32, 2867, 6, 16, 414),
        (UnitParams(kind="ternary", rows=1, cols=1, max_k=1, pipeline=0), 9, 22, 1, 0, 0),
        (UnitParams(kind="int", rows=1, cols=1, act_bits=2, max_k=1, pipeline=5, weight_bits=2), 4, 10, 1, 0, 0),
    ]

    @pytest.mark.parametrize("params, acc_bits, register_bits, latency, adders, adder_bits", PINNED)
    def test_figures_unchanged(self, params, acc_bits, register_bits, latency, adders, adder_bits):
        structure = UnitStructure.from_params(params)
        assert (structure.acc_bits, structure.register_bits, structure.latency) == (
            acc_bits, register_bits, latency)
        assert (len(structure.adder_widths), sum(structure.adder_widths)) == (adders, adder_bits)

    def test_unit_wrong(self):
        with pytest.raises(ParameterTypeError, match=r"^unit must be a matrix unit \(TernaryMatrixUnit, "
                                                      r"LookupMatrixUnit, IntMatrixUnit\), not <object"):
            UnitStructure.of(object())
        with pytest.raises(ParameterTypeError, match=r"^params must be a UnitParams, not 'fp16'$"):
            UnitStructure.from_params("fp16")

    def test_lookup_unit_counts_its_tables_once_and_lookups_per_row(self, h45):
        one, many = (UnitStructure.from_params(_unit(kind="lookup", rows=rows, group=3)) for rows in (1, 9))
        assert UnitStructure.of(build_unit(_unit(kind="lookup", group=3))).kind == "lookup"
        # 16 lanes in groups of 3: six lookups and a tree of five adders per row; five full
        # tables of 2 + 2 * 4 adders (a1 +- a0, then a2 +- each of a0, a1, a1 +- a0), one of a lane.
        assert (len(one.muxes), len(one.adder_widths)) == (6, 5)
        assert one.shared_adder_widths == many.shared_adder_widths and len(one.shared_adder_widths) == 5 * 10
        shared = sum(h45.add(width) for width in one.shared_adder_widths)
        per_row = one.chunk_energy(h45)["arithmetic"] - shared
        assert per_row > 0
        assert many.chunk_energy(h45)["arithmetic"] == pytest.approx(shared + 9 * per_row)
        inputs, width = one.muxes[0]
        assert h45.mux(inputs, width) == pytest.approx((inputs - 1) * width * 12 / 28 * h45.add(32) / 32)

    def test_ternary_cheaper_per_chunk(self, h45):
        ternary = UnitStructure.from_params(_unit(rows=8, cols=32)).chunk_energy(h45)
        integer = UnitStructure.from_params(_unit(kind="int", rows=8, cols=32)).chunk_energy(h45)
        assert ternary["arithmetic"] < integer["arithmetic"] / 4
        assert ternary["registers"] < integer["registers"]


def _accelerator(**overrides):
    params = dict(rows=8, cols=32, max_k=4096, weight_depth=256, act_depth=64, max_tokens=16)
    return AcceleratorParams(**{**params, **overrides})


class TestWorkload:
    def test_categories_add_up(self, h45):
        model = HardwareModel.for_accelerator(_accelerator())
        report = workload_energy(model, [("a", 100, 200), ("b", 64, 64)], h45, tokens=3)
        assert report["macs"] == 3 * (100 * 200 + 64 * 64)
        assert report["energy_pj"]["total"] == pytest.approx(
            sum(report["energy_pj"][c] for c in CATEGORIES))
        assert report["pj_per_token"]["total"] == pytest.approx(report["energy_pj"]["total"] / 3)
        # Padding: 100 outputs are 13 row blocks of 8, 200 inputs 7 chunks of 32.
        assert report["layers"][0]["chunk_steps"] == 3 * 13 * 7
        assert report["utilization"] < 1

    def test_offchip_counts_weights_activations_results(self, h45):
        model = HardwareModel.for_accelerator(_accelerator())
        report = workload_energy(model, [("a", 64, 128)], h45, tokens=2)
        bits = 64 * 128 * 2 + 2 * 128 * 8 + 2 * 64 * 32
        assert report["offchip_bytes"] == bits / 8
        assert report["energy_pj"]["offchip"] == pytest.approx(h45.dram_bits(bits))

    def test_base3_weights_cost_less_traffic(self, h45):
        two_bit = HardwareModel.for_accelerator(_accelerator())
        base3 = HardwareModel.for_accelerator(_accelerator(weight_format="base3"))
        layers = [("a", 256, 256)]
        assert (workload_energy(base3, layers, h45)["offchip_bytes"]
                < workload_energy(two_bit, layers, h45)["offchip_bytes"])

    def test_accelerator_figures_unchanged(self, h45, b7):
        # pJ/MAC of 2B4T on the benchmark's 8 x 32 accelerator before the model read the
        # hardware's own structure (c8c5a42), ternary and the INT8 baseline.
        params = _accelerator(weight_depth=512, act_depth=64, max_tokens=64)
        layers, tokens = parse_workload("2b4t")
        expected = {("ternary", "horowitz_45nm"): (63.36077051939857, 0.03697265624999994, 0.03485107421875),
                    ("ternary", "bitnet_7nm"): (63.30889690286212, 0.009494791666666655, 0.010455322265625),
                    ("int", "horowitz_45nm"): (257.8737914099034, 0.25810546875000007, 0.10626220703125),
                    ("int", "bitnet_7nm"): (257.6284339066482, 0.08713151041666689, 0.031878662109375)}
        for (kind, name), figures in expected.items():
            model = HardwareModel.for_accelerator(params, kind=kind)
            per_mac = workload_energy(model, layers, {"horowitz_45nm": h45, "bitnet_7nm": b7}[name],
                                      tokens=tokens)["pj_per_mac"]
            assert (per_mac["total"], per_mac["arithmetic"], per_mac["registers"]) == pytest.approx(
                figures, rel=1e-12)

    def test_for_accelerator_wrong(self):
        with pytest.raises(ParameterTypeError, match=r"^params must be an AcceleratorParams, not"):
            HardwareModel.for_accelerator(UnitParams())
        with pytest.raises(ValueError, match=r"^kind must be one of ternary, int, not 'fp16'$"):
            HardwareModel.for_accelerator(_accelerator(), kind="fp16")

    def test_ternary_below_int_per_mac(self, h45):
        params = _accelerator()
        ternary = HardwareModel.for_accelerator(params)
        integer = HardwareModel.for_accelerator(params, kind="int")
        layers = [("a", 256, 256)]
        t = workload_energy(ternary, layers, h45, tokens=8)["pj_per_mac"]
        i = workload_energy(integer, layers, h45, tokens=8)["pj_per_mac"]
        for category in CATEGORIES:
            assert t[category] < i[category], category

    def test_counters_replace_chunk_steps(self, h45):
        model = HardwareModel.for_accelerator(_accelerator())
        layers = [("a", 64, 64)]
        ideal = workload_energy(model, layers, h45)
        counted = workload_energy(model, layers, h45,
                                  counters={"compute": 2 * ideal["chunk_steps"], "macs": 64 * 64})
        assert counted["chunk_steps"] == 2 * ideal["chunk_steps"]
        assert counted["energy_pj"]["registers"] == pytest.approx(2 * ideal["energy_pj"]["registers"])
        assert counted["energy_pj"]["offchip"] == ideal["energy_pj"]["offchip"]

    def test_counters_wrong(self, h45):
        model = HardwareModel.for_accelerator(_accelerator())
        with pytest.raises(ValueError, match=r"^counters report 5 MACs but the workload has 4096$"):
            workload_energy(model, [("a", 64, 64)], h45, counters={"compute": 4, "macs": 5})

    def test_shape_wrong(self, h45):
        model = HardwareModel(UnitStructure.from_params(UnitParams(rows=2, cols=4)))
        with pytest.raises(ValueError, match=r"^in_features of a must be a positive integer, not 0$"):
            workload_energy(model, [("a", 4, 0)], h45)

    def test_unit_alone_has_no_memory_energy(self, h45):
        model = HardwareModel(UnitStructure.from_params(UnitParams(rows=2, cols=4)))
        report = workload_energy(model, [("a", 4, 4)], h45)
        assert report["energy_pj"]["onchip_memory"] == report["energy_pj"]["offchip"] == 0

    def test_memory_geometry(self):
        params = _accelerator()
        memory = MemoryGeometry.from_params(params)
        assert memory.weight_word_bits == params.tile_bits
        assert memory.macro_bytes("weight") == 2 * 256 * params.tile_bits / 8
        assert MemoryGeometry.from_params(params, "int").weight_word_bits == 8 * 32 * 8


class TestWorkloadText:
    def test_layer(self):
        assert parse_workload("2048x1024xT8") == ([("layer_2048x1024", 2048, 1024)], 8)
        assert parse_workload("16x32") == ([("layer_16x32", 16, 32)], 1)

    def test_preset(self):
        layers, tokens = parse_workload("2b4tT4".replace("T", "xT"))
        assert tokens == 4 and len(layers) == 30 * 7

    def test_wrong(self):
        with pytest.raises(ValueError, match=r"^workload must be OUTxIN\[xT<tokens>\] or a model preset "
                                             r"\(.*\)\[xT<tokens>\], not '2048x0'$"):
            parse_workload("2048x0")

    def test_unit_design_sits_in_an_accelerator_of_its_shape(self):
        unit = UnitParams(kind="int", rows=2, cols=8, max_k=256)
        model = hardware_model(unit)
        assert model.unit == UnitStructure.of(build_unit(unit))
        assert model.memory == MemoryGeometry.from_params(
            AcceleratorParams(rows=2, cols=8, max_k=256), "int", 8)
        top = hardware_model(AcceleratorParams(rows=2, cols=8))
        assert top.buffer_acc_bits == AcceleratorParams(rows=2, cols=8).acc_bits
