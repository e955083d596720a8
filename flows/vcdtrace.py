"""What the switching-activity estimate reads from a VCD (with pyvcd): port values at every
rising clock edge and the bit toggles of every signal.

Both simulations of the estimate are cycle-based: the Amaranth RTL simulation and the
Icarus Verilog replay of the gate netlist change a signal at most once per timestamp as
this module reads them (the last value written at a timestamp counts), so a toggle here is
a change between the settled values of consecutive cycles, never a glitch.
"""

import dataclasses

from vcd.reader import TokenKind, tokenize

__all__ = ["VcdTrace", "read_vcd"]

# x and z (undriven, uninitialized) read as 0, as the netlist's undriven constants are.
_UNKNOWN_AS_ZERO = str.maketrans("xXzZ", "0000")


@dataclasses.dataclass(frozen=True)
class VcdTrace:
    """Port values and toggle counts read from a VCD by :func:`read_vcd`.

    Attributes
    ----------
    cycles : int
        Rising edges of the clock.
    samples : dict of str to list of int
        Value of each sampled top-level signal just before each rising clock edge: the
        settled value of every cycle.
    widths : dict of str to int
        Width of each sampled signal.
    toggles : dict of str to list of int
        Toggles of each bit (least significant first) of every signal in the scope, named by
        its path below the scope (``"row0.acc"``). Counted from the values at the first
        timestamp up to the last rising clock edge (exclusive): ``cycles - 1`` transitions
        between the settled states of consecutive cycles.
    """
    cycles: int
    samples: dict
    widths: dict
    toggles: dict

    def total_toggles(self, names=None):
        """Bit toggles summed over ``names`` (default: every signal)."""
        names = self.toggles if names is None else names
        return sum(sum(self.toggles[name]) for name in names)


# Scalar values as pyvcd gives them (most changes of a gate netlist's VCD).
_SCALARS = {"0": 0, "1": 1, "x": 0, "X": 0, "z": 0, "Z": 0}


def _value(value):
    """A scalar or vector value of pyvcd as an int."""
    if isinstance(value, int):
        return value
    scalar = _SCALARS.get(value)
    return scalar if scalar is not None else int(value.translate(_UNKNOWN_AS_ZERO) or "0", 2)


def _count_bits(counts, diff, step=1):
    """Add ``step`` to ``counts[k]`` for every set bit ``k`` of ``diff``."""
    while diff:
        lowest = diff & -diff
        counts[lowest.bit_length() - 1] += step
        diff ^= lowest


def _is_view(reference):
    """Whether ``reference`` names a field or element of another signal.

    Amaranth writes each field of a structured signal again as ``\\i__payload.act`` or
    ``\\act[0]``: the same bits, which must not count twice. pyvcd drops the backslash of
    such an escaped identifier; a plain Verilog identifier has neither ``.`` nor ``[``.
    """
    return "." in reference or "[" in reference


def _declarations(tokens, scope):
    """Read the header up to ``$enddefinitions``.

    Returns
    -------
    (dict, dict, dict)
        Names of each identifier code (a code can stand for several signals), the width of
        each name, and the code of each signal directly in ``scope``.
    """
    names, widths, top = {}, {}, {}
    current = []
    for token in tokens:
        if token.kind is TokenKind.SCOPE:
            current.append(token.data.ident)
        elif token.kind is TokenKind.UPSCOPE:
            current.pop()
        elif token.kind is TokenKind.VAR:
            var = token.data
            if tuple(current[:len(scope)]) != scope or _is_view(var.reference):
                continue
            name = ".".join(current[len(scope):] + [var.reference])
            names.setdefault(var.id_code, []).append(name)
            widths[name] = var.size
            if len(current) == len(scope):
                top[var.reference] = var.id_code
        elif token.kind is TokenKind.ENDDEFINITIONS:
            break
    return names, widths, top


def read_vcd(path, *, scope, clock="clk", sample=None):
    """Sample top-level signals at each rising edge of ``clock`` and count bit toggles.

    Parameters
    ----------
    path : path-like
    scope : tuple of str
        Scope of the design in the VCD (Amaranth's ``write_vcd``: ``("bench", "top")``).
    clock : str
        Clock signal directly in ``scope``.
    sample : iterable of str or None
        Top-level signals to sample; ``None``: all of them.

    Returns
    -------
    VcdTrace

    Raises
    ------
    ValueError
        If ``scope`` has no ``clock`` or no signal of ``sample``.
    """
    scope = tuple(scope)
    where = ".".join(scope)
    with open(path, "rb") as stream:
        tokens = tokenize(stream)
        names, widths, top = _declarations(tokens, scope)
        if clock not in top:
            raise ValueError(f"VCD {path} has no clock {clock!r} in scope {where}")
        sampled = list(top) if sample is None else list(sample)
        missing = [name for name in sampled if name not in top]
        if missing:
            raise ValueError(f"VCD {path} has no signal {', '.join(map(repr, missing))} "
                             f"in scope {where}")
        reader = _ChangeReader(names, widths, top[clock], {name: top[name] for name in sampled})
        reader.read(tokens)
    return VcdTrace(cycles=reader.edges, samples=reader.samples,
                    widths={name: widths[name] for name in sampled},
                    toggles={name: counts for code, counts in reader.counts.items()
                             for name in names[code]})


class _ChangeReader:
    """The value changes of a VCD, one timestamp at a time (see :func:`read_vcd`)."""

    def __init__(self, names, widths, clock_code, sampled_codes):
        self.clock_code = clock_code
        self.sampled_codes = sampled_codes
        self.counts = {code: [0] * widths[aliases[0]] for code, aliases in names.items()}
        self.samples = {name: [] for name in sampled_codes}
        self.edges = 0
        self.values = {}
        # Toggles since the latest rising edge: taken back at the end, as the changes the
        # last edge causes belong to a cycle that is not sampled.
        self.since_edge = []

    def read(self, tokens):
        pending, time, first_time = {}, None, None
        for token in tokens:
            kind = token.kind
            if kind is TokenKind.CHANGE_SCALAR or kind is TokenKind.CHANGE_VECTOR:
                pending[token.data.id_code] = token.data.value
            elif kind is TokenKind.CHANGE_TIME and token.data != time:
                self._commit(pending, baseline=time is None or time == first_time)
                pending, time = {}, token.data
                first_time = time if first_time is None else first_time
        self._commit(pending, baseline=time is None or time == first_time)
        for code, diff in self.since_edge:
            _count_bits(self.counts[code], diff, step=-1)

    def _commit(self, pending, baseline):
        """Apply the last value of each signal changed at one timestamp."""
        values = self.values
        clock = pending.get(self.clock_code)
        if clock is not None and _value(clock) == 1 and values.get(self.clock_code) == 0:
            self.edges += 1
            for name, code in self.sampled_codes.items():
                self.samples[name].append(values.get(code, 0))
            self.since_edge = []
        counts, since_edge = self.counts, self.since_edge
        for code, raw in pending.items():
            value = _value(raw)
            # The first timestamp sets the initial state; later ones toggle from it.
            diff = 0 if baseline else values.get(code, 0) ^ value
            if diff and code in counts:
                if diff == 1:  # the usual case: a one-bit net
                    counts[code][0] += 1
                else:
                    _count_bits(counts[code], diff)
                since_edge.append((code, diff))
            values[code] = value
