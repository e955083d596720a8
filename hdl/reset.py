"""The reset contract every stream block of ``hdl/`` keeps, stated once.

While the domain's reset is high, from its first cycle on, a block offers nothing and takes
nothing: its streams' ``valid`` and ``ready`` outputs are low. A synchronous reset only loads
the registers at the next clock edge, so a handshake computed from them could still be high
in the first reset cycle; the gate is on the outputs alone, the state logic is untouched, so
no cycle count changes (``tests/test_hdl_reset.py`` checks every block, the formal stream
proofs assert it).
"""

from amaranth.hdl import ResetSignal

__all__ = ["hold_low_in_reset"]


def hold_low_in_reset(m, *handshakes, domain="sync"):
    """Drive ``handshakes`` (a block's stream ``valid``/``ready`` outputs) low while ``domain``'s
    reset is high. Call it last in ``elaborate``: the last assignment to a signal wins, so this
    overrides whatever the block's logic assigned before."""
    with m.If(ResetSignal(domain)):
        m.d.comb += [handshake.eq(0) for handshake in handshakes]
