"""Run BitNet layers and whole models with every ternary matmul on the accelerator RTL.

For use inside a cocotb test. The golden model is ordinary blocking PyTorch code; the RTL
driver is a cocotb coroutine. :func:`model_logits_on_rtl` runs the model in a
``cocotb.task.bridge`` thread, and :class:`RtlMatmul` (its
:meth:`~tritforge.golden.BitNetModel.matmul_hook` delegate) hands each integer product back
to the simulator with ``cocotb.task.resume``: the simulation advances only while a product
is being computed, and everything else of the model is the golden float32 code.

With ``counted=True`` each product runs under the cycle model's conditions
(:mod:`~tritforge.sim.perf_model`): ``CLEAR``, the product with the command stream kept
full, ``READ_STATUS``; its status counters are recorded with it and are then the model's
exactly.
"""

from dataclasses import dataclass

import torch
from cocotb.task import bridge, resume

from ..golden.bitlinear import BitLinear
from ..golden.quant import quantize_activations
from .driver import plan_matmul

__all__ = ["MatmulCall", "RtlMatmul", "model_logits_on_rtl", "bitlinear_on_rtl"]


@dataclass(frozen=True)
class MatmulCall:
    """One product computed by the RTL: projection name, ``[T, K, N]``, device cycles of the
    call and, when counted, the status counters of the product alone."""
    name: str
    shape: tuple
    cycles: int
    counters: dict = None


class RtlMatmul:
    """``matmul(name, x_q, w_t)`` on the accelerator, for ``BitNetModel.matmul_hook``.

    ``x_q`` ``[..., K]`` is flattened to ``[T, K]`` rows (all batch positions at once).
    Callable only from a thread started by ``cocotb.task.bridge``. ``counted``: run each
    product as the cycle model assumes and record its status counters (module docstring);
    an error latched by the accelerator then raises
    :class:`~tritforge.sim.driver.AcceleratorError`.

    Attributes
    ----------
    calls : list of MatmulCall
    """

    def __init__(self, driver, *, counted=False):
        self._driver = driver
        self._matmul = resume(self._counted_matmul if counted else driver.matmul)
        self._counters = None
        self.calls = []

    def __call__(self, name, x_q, w_t):
        rows = x_q.reshape(-1, x_q.shape[-1])
        start = self._driver.transport.now()
        y = self._matmul(rows, w_t)
        self.calls.append(MatmulCall(name, (rows.shape[0], rows.shape[1], w_t.shape[0]),
                                     self._driver.transport.now() - start, self._counters))
        return torch.from_numpy(y).reshape(*x_q.shape[:-1], w_t.shape[0])

    async def _counted_matmul(self, rows, w_t):
        driver = self._driver
        await driver.clear()
        parts = plan_matmul(driver.params, rows.shape[0], rows.shape[1], w_t.shape[0])
        y = await driver.matmul(rows, w_t, lookahead=len(parts))
        self._counters = (await driver.check()).counters
        return y


async def model_logits_on_rtl(driver, model, input_ids, *, cache=None, last_only=False, counted=False):
    """``(logits, calls)``: ``model(input_ids, cache=cache, last_only=last_only)`` with every
    BitLinear product on the RTL (``counted``: see :class:`RtlMatmul`)."""
    hook = RtlMatmul(driver, counted=counted)

    def forward():
        with torch.no_grad(), model.matmul_hook(hook):
            return model(input_ids, cache=cache, last_only=last_only)

    logits = await bridge(forward)()
    return logits, hook.calls


async def bitlinear_on_rtl(driver, linear, x):
    """``(y, y_int, cycles)``: a :class:`~tritforge.golden.BitLinear` forward of float
    activations ``x`` ``[T, K]`` whose integer product ran on the RTL."""
    if not isinstance(linear, BitLinear):
        raise TypeError(f"linear must be a BitLinear, not {linear!r}")
    x_q, s_x = quantize_activations(x.detach(), linear.act_bits)
    w_t, s_w = linear.quantized_weights()
    start = driver.transport.now()
    y_int = torch.from_numpy(await driver.matmul(x_q, w_t))
    cycles = driver.transport.now() - start
    return y_int.to(x.dtype) / (s_x * s_w).to(x.dtype), y_int, cycles
