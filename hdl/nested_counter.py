"""Nested counter: loop indices of nested loops (e.g. token inside chunk inside row block)."""

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.data import StructLayout
from amaranth.lib.wiring import In, Out

__all__ = ["NestedCounter"]


class NestedCounter(wiring.Component):
    """The indices of nested loops, stepped one iteration of the innermost loop at a time.

    Levels count like the digits of a number, innermost first: ``advance`` steps the
    innermost level; a level at its last value (``count == limit - 1``) goes back to 0 and
    steps the next level out. After the last iteration of all levels every count is 0 again.

    Protocol: ``restart`` takes ``limit`` (each level's iteration count, at least 1) and sets
    every count to 0; it wins over ``advance``. Count only after a ``restart``.

    Timing: ``count`` and ``last`` are registers: they change at the clock edge after
    ``advance`` or ``restart``. ``wrap`` is ``advance`` and one flip-flop (the level and the
    levels inside it all at their last index, registered from the next state alongside
    ``last``): whoever drives ``advance`` sees no adder, comparator or AND of flags behind
    it. The next ``last`` is a down-counter's comparison with 1, made alongside (no adder in
    front of it either).

    Reset: every count 0, every ``last`` flag 0 (``restart`` before counting).

    Once elaborated, ``registers`` maps each level to its inner registers (``top``,
    ``single``, ``remaining``, ``through``), for the formal proofs' invariants
    (:mod:`tritforge.flows.properties`).

    Parameters
    ----------
    levels : dict of str to int
        Level name to the largest ``limit`` it must count to, innermost level first.

    Members
    -------
    limit : ``In(StructLayout({name: range(largest + 1)}))``
        Iterations of each level, taken at ``restart``.
    restart : ``In(1)``
        Strobe: every count to 0.
    advance : ``In(1)``
        Strobe: one iteration of the innermost level is done.
    count : ``Out(StructLayout({name: range(largest)}))``
        The current index of each level.
    last : ``Out(StructLayout({name: 1}))``
        The level is at its last index.
    wrap : ``Out(StructLayout({name: 1}))``
        ``advance`` with this level and every inner one at its last index: the level goes
        back to 0 at this edge (``wrap`` of the outermost level: the loops are done).

    Raises
    ------
    TypeError
        ``levels`` is not a dict of str to int.
    ValueError
        ``levels`` is empty or a largest limit is less than 1.
    """

    def __init__(self, levels):
        if not isinstance(levels, dict):
            raise TypeError(f"levels must be a dict of level name to largest limit, not {levels!r}")
        if not levels:
            raise ValueError("levels must name at least one level")
        for name, largest in levels.items():
            if not isinstance(name, str):
                raise TypeError(f"level names must be strings, not {name!r}")
            if not isinstance(largest, int) or isinstance(largest, bool):
                raise TypeError(f"the largest limit of level {name!r} must be an integer, "
                                f"not {largest!r}")
            if largest < 1:
                raise ValueError(f"the largest limit of level {name!r} must be at least 1, "
                                 f"not {largest!r}")
        self._levels = dict(levels)
        largest = self._levels
        super().__init__({
            "limit": In(StructLayout({name: range(largest[name] + 1) for name in largest})),
            "restart": In(1),
            "advance": In(1),
            "count": Out(StructLayout({name: range(largest[name]) for name in largest})),
            "last": Out(StructLayout({name: 1 for name in levels})),
            "wrap": Out(StructLayout({name: 1 for name in levels})),
        })

    def elaborate(self, platform):
        m = Module()
        self.registers = {}
        # `through` of a level: it and every level inside it at their last index, a register
        # made from the next state alongside `last` (see Timing): `wrap` and the steps of the
        # next level out are then `advance` and one flip-flop.
        inner_through = Const(1)
        inner_through_next = Const(1)
        for name, largest in self._levels.items():
            count, last = self.count[name], self.last[name]
            # Per level, taken at restart: limit - 1 and whether it is 0; and the indices
            # still to come, counted down, so that the next `last` is a comparison with a
            # constant (no adder in front of it).
            top = Signal(range(largest), name=f"{name}_top")
            single = Signal(name=f"{name}_single")
            remaining = Signal(range(largest), name=f"{name}_remaining")
            last_next = Signal(name=f"{name}_last_next")
            through = Signal(name=f"{name}_through")
            self.registers[name] = {"top": top, "single": single, "remaining": remaining,
                                    "through": through}
            steps = self.advance & inner_through
            m.d.comb += [self.wrap[name].eq(self.advance & through), last_next.eq(last)]
            with m.If(self.restart):
                # `limit == 1`, not `limit - 1 == 0`: no subtraction in front of the flags.
                first_top, first_single = self.limit[name] - 1, self.limit[name] == 1
                m.d.sync += [top.eq(first_top), single.eq(first_single), count.eq(0),
                             remaining.eq(first_top)]
                m.d.comb += last_next.eq(first_single)
            with m.Elif(steps & last):
                m.d.sync += [count.eq(0), remaining.eq(top)]
                m.d.comb += last_next.eq(single)
            with m.Elif(steps):
                m.d.sync += [count.eq(count + 1), remaining.eq(remaining - 1)]
                m.d.comb += last_next.eq(remaining == 1)
            through_next = inner_through_next & last_next
            m.d.sync += [last.eq(last_next), through.eq(through_next)]
            inner_through, inner_through_next = through, through_next
        return m
