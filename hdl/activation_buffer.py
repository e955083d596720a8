"""Activation buffer: two banks of activation chunks (double-buffered)."""

from amaranth.hdl import signed
from amaranth.lib.data import ArrayLayout

from .banked_memory import BankedMemory

__all__ = ["chunk_layout", "ActivationBuffer"]


def chunk_layout(cols, act_bits):
    """One chunk: ``cols`` signed activations, activation ``c`` at bits ``c * act_bits``."""
    return ArrayLayout(signed(act_bits), cols)


class ActivationBuffer(BankedMemory):
    """Two banks of ``depth`` activation chunks: the host loads one while a run reads the other.

    A word is one chunk (:func:`chunk_layout`): the ``cols`` activations of one token that
    meet one weight tile. A ``RUN`` of ``T`` tokens and ``KC`` chunks per token reads chunk
    ``kc`` of token ``t`` from address ``t * KC + kc`` (token-major, the order
    ``LOAD_ACTS`` writes them in).

    Parameters
    ----------
    cols : int
        Activations per chunk.
    act_bits : int
        Signed activation width.
    depth : int
        Chunks per bank.

    Members
    -------
    write : ``In(write_signature(depth, chunk_layout(cols, act_bits)))``
    read : ``In(read_signature(depth, chunk_layout(cols, act_bits)))``
        Latency 1; ``read.data`` holds while ``read.en`` is low.
    """

    def __init__(self, cols, act_bits, depth):
        for name, value in (("cols", cols), ("act_bits", act_bits)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        super().__init__(depth, chunk_layout(cols, act_bits))
