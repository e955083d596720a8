# amaranth: UnusedElaboratable=no
# (a store built to read its depth, or a board top refused by a failing tool, is never elaborated)
"""The boards: amaranth-boards platforms, their PLLs and weight stores, and the board wrapper.

The hardware below (:class:`~tritforge.hdl.board.BoardTop`) knows no board; this module is
the platform glue: which amaranth-boards platform, which oscillator, which PLL primitive
and parameters make the requested clock, which weight store the device has room for, and
the pins. ``hdl`` does not depend on amaranth-boards; ``flows`` (this module and
:mod:`~tritforge.flows.bitstream`) and ``app`` do.

Boards (:data:`BOARDS`):

* ``icebreaker``: iCE40 UP5K, 12 MHz oscillator, ``SB_PLL40_PAD``; the weight store is the
  four SPRAMs (:class:`~tritforge.hdl.weight_store.SPRAMWeightStore`, 128 KB);
* ``ulx3s-85f``: ECP5 LFE5U-85F, 25 MHz oscillator, ``EHXPLLL``; the weight store is block
  RAM (:class:`~tritforge.hdl.weight_store.WeightStore`, 32 K words: 128 KB at a 32-bit
  stream).
"""

import dataclasses

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from ..hdl.board import BoardTop
from ..hdl.weight_store import SPRAMWeightStore, WeightStore
from ..spec.errors import ParameterError
from ..spec.link import LinkParams
from ..spec.params import AcceleratorParams

__all__ = ["BoardSpec", "BOARDS", "Pll", "ice40_pll", "ecp5_pll", "board_store", "store_depth", "BoardWrapper",
           "board_link", "DEFAULT_BAUD", "PORTABLE_CLOCK_MHZ", "BoardDesign"]

#: The UART rate of a bitstream unless told otherwise.
DEFAULT_BAUD = 115_200


@dataclasses.dataclass(frozen=True)
class Pll:
    """PLL parameters: the output frequency they give and the primitive's divider values."""
    primitive: str
    input_mhz: float
    output_mhz: float
    dividers: dict


def ice40_pll(input_mhz, output_mhz):
    """``SB_PLL40`` dividers for the closest output to ``output_mhz`` (the iCE40 PLL's rules:
    PFD 10..133 MHz, VCO 533..1066 MHz, output 16..275 MHz, as icepll searches them)."""
    best = None
    for divr in range(16):
        pfd = input_mhz / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533 <= vco <= 1066:
                continue
            for divq in range(1, 7):
                out = vco / 2 ** divq
                if not 16 <= out <= 275:
                    continue
                if best is None or abs(out - output_mhz) < abs(best[0] - output_mhz):
                    filter_range = next(i for i, limit in enumerate((17, 26, 44, 66, 101, 1e9), 1)
                                        if pfd < limit)
                    best = (out, dict(DIVR=divr, DIVF=divf, DIVQ=divq, FILTER_RANGE=filter_range))
    return _pll("SB_PLL40_PAD", input_mhz, output_mhz, best)


def ecp5_pll(input_mhz, output_mhz):
    """``EHXPLLL`` dividers (feedback from CLKOP) for the closest output to ``output_mhz``
    (PFD 3.125..400 MHz, VCO 400..800 MHz, as ecppll searches them)."""
    best = None
    for clki in range(1, 129):
        pfd = input_mhz / clki
        if not 3.125 <= pfd <= 400:
            continue
        for clkfb in range(1, 81):
            out = pfd * clkfb
            for clkop in range(1, 129):
                if not 400 <= out * clkop <= 800:
                    continue
                if best is None or abs(out - output_mhz) < abs(best[0] - output_mhz):
                    best = (out, dict(CLKI_DIV=clki, CLKFB_DIV=clkfb, CLKOP_DIV=clkop,
                                      CLKOP_CPHASE=(clkop - 1) // 2))
                break
    return _pll("EHXPLLL", input_mhz, output_mhz, best)


def _pll(primitive, input_mhz, output_mhz, best):
    if best is None or abs(best[0] - output_mhz) > 0.02 * output_mhz:
        raise ParameterError(f"the {primitive} cannot make {output_mhz:g} MHz from {input_mhz:g} MHz "
                             f"within 2 %" + (f" (closest: {best[0]:.3f} MHz)" if best else ""))
    return Pll(primitive, input_mhz, round(best[0], 4), best[1])


@dataclasses.dataclass(frozen=True)
class BoardSpec:
    """One board: its platform class (module and name in amaranth-boards), oscillator, PLL
    search, device family, the programmer that loads it and the default core clock."""
    name: str
    platform_module: str
    platform_class: str
    oscillator: str
    oscillator_mhz: float
    family: str
    pll: object
    programmers: tuple
    default_clock_mhz: float
    bitstream_suffix: str

    def platform(self):
        """A new amaranth-boards platform of the board."""
        import amaranth_boards.icebreaker
        import amaranth_boards.ulx3s
        modules = {"amaranth_boards.icebreaker": amaranth_boards.icebreaker,
                   "amaranth_boards.ulx3s": amaranth_boards.ulx3s}
        return getattr(modules[self.platform_module], self.platform_class)()


BOARDS = {
    "icebreaker": BoardSpec("icebreaker", "amaranth_boards.icebreaker", "ICEBreakerPlatform", "clk12",
                            12.0, "ice40", ice40_pll, ("iceprog", "openFPGALoader"), 30.0, ".bin"),
    "ulx3s-85f": BoardSpec("ulx3s-85f", "amaranth_boards.ulx3s", "ULX3S_85F_Platform", "clk25",
                           25.0, "ecp5", ecp5_pll, ("openFPGALoader",), 60.0, ".bit"),
}


#: Words of the ECP5 boards' block-RAM weight store (128 KB at a 32-bit stream).
BRAM_STORE_WORDS = 32768


def store_depth(board, params):
    """Words of :func:`board_store` (checked as it would be, without building it)."""
    if board.family == "ice40":
        return SPRAMWeightStore.depth_for(params.stream_width)
    return BRAM_STORE_WORDS


def board_store(board, params):
    """The weight store the board's device has room for (module docstring)."""
    if board.family == "ice40":
        return SPRAMWeightStore(params.stream_width)
    return WeightStore(params.stream_width, BRAM_STORE_WORDS)


def board_link(board, params, clock_mhz, baud, **fields):
    """The :class:`LinkParams` of a board at ``clock_mhz`` and ``baud`` (store depth from
    :func:`store_depth`)."""
    return LinkParams.for_baud(clock_mhz * 1e6, baud, store_depth=store_depth(board, params), **fields)


#: The clock of a portable board top (no board) unless told otherwise.
PORTABLE_CLOCK_MHZ = 50.0


@dataclasses.dataclass(frozen=True)
class BoardDesign:
    """The board top as a design to generate (:func:`tritforge.flows.generate.generate`):
    :class:`~tritforge.hdl.board.BoardTop` with the link and weight store of ``board`` (a
    name in :data:`BOARDS`) at ``clock_mhz`` and ``baud``, without the PLL (its parameters are
    data: :attr:`pll`); ``board=None``: the portable top, a generic ``Memory`` weight store of
    ``store_depth`` words (default :class:`LinkParams`'), clock default
    :data:`PORTABLE_CLOCK_MHZ`. Checked on construction (:class:`ParameterError`)."""
    params: AcceleratorParams
    board: str = None
    clock_mhz: float = None
    baud: int = DEFAULT_BAUD
    store_depth: int = None

    kind = "board"

    def __post_init__(self):
        if not isinstance(self.params, AcceleratorParams):
            raise ParameterError(f"a board top holds an accelerator, not {self.params!r}")
        if self.board is not None and self.board not in BOARDS:
            raise ParameterError(f"board must be one of {', '.join(sorted(BOARDS))}, not {self.board!r}")
        if self.board is not None and self.store_depth is not None:
            raise ParameterError(f"store_depth applies to the portable board top only: the {self.board} store has "
                                 f"{store_depth(BOARDS[self.board], self.params)} words")
        if self.clock_mhz is None:
            default = PORTABLE_CLOCK_MHZ if self.board is None else BOARDS[self.board].default_clock_mhz
            object.__setattr__(self, "clock_mhz", default)
        self.link    # checks the PLL, clock, baud and store depth

    @property
    def frequency_mhz(self):
        """The clock of ``clk``: the PLL's output nearest ``clock_mhz`` on a board (as
        ``tritforge bitstream`` makes it), else ``clock_mhz``."""
        return self.clock_mhz if self.board is None else self.pll.output_mhz

    @property
    def link(self):
        if self.board is not None:
            return board_link(BOARDS[self.board], self.params, self.frequency_mhz, self.baud)
        depth = {} if self.store_depth is None else {"store_depth": self.store_depth}
        return LinkParams.for_baud(self.clock_mhz * 1e6, self.baud, **depth)

    @property
    def pll(self):
        """The board's :class:`Pll` for ``clock_mhz`` (``None`` for the portable top)."""
        if self.board is None:
            return None
        spec = BOARDS[self.board]
        return spec.pll(spec.oscillator_mhz, self.clock_mhz)

    @property
    def name(self):
        board = "portable" if self.board is None else self.board.replace("-", "_")
        return f"board_{board}_{self.params.name}_d{self.link.baud_divider}"

    def store(self):
        """A new weight store of the board (generic ``Memory`` when portable)."""
        if self.board is None:
            return WeightStore(self.params.stream_width, self.link.store_depth)
        return board_store(BOARDS[self.board], self.params)

    def build(self):
        """A new :class:`BoardTop` of this design."""
        return BoardTop(self.params, self.link, self.store())

    def to_dict(self):
        return {"kind": self.kind, "board": self.board or "portable", "clock_mhz": self.clock_mhz,
                "baud": self.baud, **{k: v for k, v in self.params.to_dict().items() if k != "kind"}}


class BoardWrapper(Elaboratable):
    """The board's top: the PLL makes the ``sync`` clock, held in reset until it locks; the
    UART pins go to :class:`~tritforge.hdl.board.BoardTop`, ``busy`` and ``error`` to LEDs."""

    def __init__(self, board, params, link, pll):
        self.board = board
        self.pll = pll
        self.top = BoardTop(params, link, board_store(board, params))

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync")
        locked = Signal()
        clock = Signal()
        m.d.comb += ClockSignal("sync").eq(clock)
        if self.board.family == "ice40":
            pad = platform.request(self.board.oscillator, dir="-")  # the PLL takes the pad itself
            d = self.pll.dividers
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE", p_DIVR=d["DIVR"], p_DIVF=d["DIVF"],
                p_DIVQ=d["DIVQ"], p_FILTER_RANGE=d["FILTER_RANGE"], i_PACKAGEPIN=pad.io,
                i_RESETB=1, i_BYPASS=0, o_PLLOUTGLOBAL=clock, o_LOCK=locked)
        else:
            m.submodules.oscillator = oscillator = io.Buffer(
                "i", platform.request(self.board.oscillator, dir="-"))
            d = self.pll.dividers
            m.submodules.pll = Instance(
                "EHXPLLL", p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED",
                p_STDBY_ENABLE="DISABLED", p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
                p_OUTDIVIDER_MUXB="DIVB", p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
                p_CLKI_DIV=d["CLKI_DIV"], p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=d["CLKOP_DIV"],
                p_CLKOP_CPHASE=d["CLKOP_CPHASE"], p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
                p_CLKFB_DIV=d["CLKFB_DIV"], i_RST=0, i_STDBY=0, i_CLKI=oscillator.i, o_CLKOP=clock,
                i_CLKFB=clock, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1,
                i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=locked,
                a_FREQUENCY_PIN_CLKI=f"{self.pll.input_mhz:g}",
                a_FREQUENCY_PIN_CLKOP=f"{self.pll.output_mhz:g}", a_ICP_CURRENT="12",
                a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2")
        platform.add_clock_constraint(clock, self.pll.output_mhz * 1e6)
        m.submodules.reset = ResetSynchronizer(~locked, domain="sync")
        uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        m.submodules.top = top = self.top
        m.d.comb += [top.rx.eq(rx.i), tx.o.eq(top.tx)]
        for index, signal in enumerate((top.busy, top.error)):
            m.submodules[f"led{index}"] = led = io.Buffer("o", platform.request("led", index, dir="-"))
            m.d.comb += led.o.eq(signal)
        return m
