"""Packed storage formats of ternary weight matrices ``w_t`` ``[N, K]`` (N outputs, K inputs).

Every format stores the 2-bit / base-3 digit ``code = w + 1`` (``-1 -> 0``, ``0 -> 1``,
``+1 -> 2``); the 2-bit code ``3`` is invalid. Padding, where a format needs it, uses the
code of a zero weight, so padded weights add nothing to a dot product.

``hf``
    The layout of the public BitNet b1.58 2B4T checkpoints and the transformers BitNet
    integration: uint8 ``[ceil(N/4), K]``; bits ``2i..2i+1`` of byte ``[r, k]`` hold
    row ``i * ceil(N/4) + r`` (value ``i`` of a byte comes from row block ``i``).
``2bit``
    The hardware row-major format, what the weight SRAM holds: uint8 ``[N, ceil(K/4)]``;
    weight ``[n, k]`` is at bits ``2*(k % 4)`` (LSB first) of byte ``[n, k // 4]``.
``base3``
    Five trits per byte, 1.6 bits per weight: uint8 ``[N, ceil(K/5)]``; byte ``[n, j]`` is
    ``sum(code[n, 5j + i] * 3**i for i in range(5))``. Bytes 243..255 are invalid.
"""

import torch

from ..spec.formats import BASE3_LIMIT, TRITS_PER_BYTE, WEIGHT_FORMATS, WeightCode

__all__ = [
    "CODE_NEG", "CODE_ZERO", "CODE_POS", "CODE_INVALID", "TRITS_PER_BYTE",
    "WEIGHTS_PER_BYTE", "pack_hf", "unpack_hf", "unpack_hf_checked_before", "has_invalid_code", "pack_2bit", "unpack_2bit",
    "pack_base3", "unpack_base3",
]

# The codes and bytes-per-weight are defined once, in tritforge.spec.formats (numpy packers of
# the 2bit and base3 formats live there too and are tested against these, bit for bit).
CODE_NEG, CODE_ZERO, CODE_POS, CODE_INVALID = (int(code) for code in WeightCode)
WEIGHTS_PER_BYTE = WEIGHT_FORMATS["2bit"]


def pack_hf(w_t):
    """Pack ``w_t`` ``[N, K]`` into the checkpoint layout, uint8 ``[ceil(N/4), K]``."""
    codes = _codes(w_t)
    n = codes.shape[0]
    row_blocks = -(-n // WEIGHTS_PER_BYTE)
    codes = _pad(codes, 0, row_blocks * WEIGHTS_PER_BYTE)
    blocks = codes.reshape(WEIGHTS_PER_BYTE, row_blocks, codes.shape[1])
    return _merge_2bit(blocks, dim=0)


def unpack_hf(packed, out_features):
    """Inverse of :func:`pack_hf`: int8 ``w_t`` ``[out_features, K]``."""
    packed = _packed_tensor(packed, "packed")
    row_blocks = packed.shape[0]
    if not isinstance(out_features, int) or not 0 <= out_features <= row_blocks * 4 \
            or -(-out_features // WEIGHTS_PER_BYTE) != row_blocks:
        raise ValueError(f"out_features {out_features!r} does not fit a packed tensor of "
                         f"{row_blocks} row blocks (needs ceil(out_features / 4) == {row_blocks})")
    return _weights(_hf_codes(packed, out_features), "packed")


def has_invalid_code(packed):
    """Whether any 2-bit field of the uint8 ``packed`` bytes holds the invalid code 3: a scan
    of the bytes themselves, without unpacking (a quarter of the memory and time)."""
    return bool((packed & (packed >> 1) & 0b01010101).any())


def unpack_hf_checked_before(packed, out_features):
    """:func:`unpack_hf` without the checks, for bytes that passed them once already (a frozen
    :class:`~tritforge.golden.BitLinear` unpacks its weights at every product: one byte per
    weight, never more, and no second scan for invalid codes)."""
    return _hf_codes(packed, out_features).view(torch.int8).sub_(1)


def _hf_codes(packed, out_features):
    return _split_2bit(packed).reshape(-1, packed.shape[1])[:out_features]


def pack_2bit(w_t):
    """Pack ``w_t`` ``[N, K]`` row-major, 4 weights per byte: uint8 ``[N, ceil(K/4)]``."""
    codes = _codes(w_t)
    k_bytes = -(-codes.shape[1] // WEIGHTS_PER_BYTE)
    codes = _pad(codes, 1, k_bytes * WEIGHTS_PER_BYTE)
    groups = codes.reshape(codes.shape[0], k_bytes, WEIGHTS_PER_BYTE).movedim(2, 0)
    return _merge_2bit(groups, dim=0)


def unpack_2bit(packed, in_features):
    """Inverse of :func:`pack_2bit`: int8 ``w_t`` ``[N, in_features]``."""
    packed = _packed_tensor(packed, "packed")
    _check_width(in_features, packed.shape[1], WEIGHTS_PER_BYTE)
    codes = _split_2bit(packed).movedim(0, 2).reshape(packed.shape[0], -1)
    return _weights(codes[:, :in_features], "packed")


def pack_base3(w_t):
    """Pack ``w_t`` ``[N, K]`` five trits per byte: uint8 ``[N, ceil(K/5)]``."""
    codes = _codes(w_t).to(torch.int32)
    k_bytes = -(-codes.shape[1] // TRITS_PER_BYTE)
    codes = _pad(codes, 1, k_bytes * TRITS_PER_BYTE).reshape(codes.shape[0], k_bytes, TRITS_PER_BYTE)
    powers = 3 ** torch.arange(TRITS_PER_BYTE, dtype=torch.int32)
    return (codes * powers).sum(dim=2).to(torch.uint8)


def unpack_base3(packed, in_features):
    """Inverse of :func:`pack_base3`: int8 ``w_t`` ``[N, in_features]``.

    Raises ``ValueError`` naming the first byte >= 243, which no packer writes.
    """
    packed = _packed_tensor(packed, "packed")
    _check_width(in_features, packed.shape[1], TRITS_PER_BYTE)
    bad = (packed >= BASE3_LIMIT).nonzero()
    if len(bad):
        n, j = bad[0].tolist()
        raise ValueError(f"invalid base-3 byte {int(packed[n, j])} at [{n}, {j}]: "
                         f"a byte holds 5 trits, so it must be below {BASE3_LIMIT}")
    digits = packed.to(torch.int32).unsqueeze(2) // 3 ** torch.arange(TRITS_PER_BYTE, dtype=torch.int32) % 3
    return (digits.reshape(packed.shape[0], -1)[:, :in_features] - 1).to(torch.int8)


def _codes(w_t):
    w_t = torch.as_tensor(w_t)
    if w_t.dim() != 2:
        raise ValueError(f"w_t must be a 2-D [N, K] tensor, not shape {tuple(w_t.shape)}")
    if w_t.is_floating_point() or w_t.is_complex() or w_t.dtype == torch.bool:
        raise ValueError(f"w_t must be an integer tensor, not {w_t.dtype}")
    if w_t.numel() and (w_t.min() < -1 or w_t.max() > 1):
        raise ValueError(f"w_t must hold only -1, 0 and 1, found values in "
                         f"[{int(w_t.min())}, {int(w_t.max())}]")
    return (w_t.to(torch.int16) + 1).to(torch.uint8)


def _pad(codes, dim, size):
    """Pad ``codes`` along ``dim`` to ``size`` with the zero-weight code."""
    missing = size - codes.shape[dim]
    if missing == 0:
        return codes
    shape = list(codes.shape)
    shape[dim] = missing
    return torch.cat([codes, torch.full(shape, CODE_ZERO, dtype=codes.dtype)], dim=dim)


def _merge_2bit(parts, dim):
    """OR four 2-bit code planes (stacked along ``dim``, plane i at bits 2i) into bytes."""
    shifts = (2 * torch.arange(WEIGHTS_PER_BYTE, dtype=torch.int32)).reshape(-1, *[1] * (parts.dim() - 1))
    return (parts.to(torch.int32) << shifts).sum(dim=dim).to(torch.uint8)


def _split_2bit(packed):
    """The four 2-bit code planes of ``packed`` bytes (uint8), stacked on a new leading dim."""
    shifts = (2 * torch.arange(WEIGHTS_PER_BYTE, dtype=torch.uint8)).reshape(-1, *[1] * packed.dim())
    return (packed.unsqueeze(0) >> shifts) & 0b11


def _weights(codes, name):
    invalid = codes == CODE_INVALID
    if invalid.any():
        bad = invalid.nonzero()
        raise ValueError(f"{name} holds the invalid 2-bit weight code 3 at weight "
                         f"{bad[0].tolist()} (valid codes: 0 = -1, 1 = 0, 2 = +1)")
    return codes.to(torch.int8) - 1


def _packed_tensor(packed, name):
    packed = torch.as_tensor(packed)
    if packed.dtype != torch.uint8 or packed.dim() != 2:
        raise ValueError(f"{name} must be a 2-D uint8 tensor, not {packed.dtype} "
                         f"of shape {tuple(packed.shape)}")
    return packed


def _check_width(in_features, k_bytes, per_byte):
    if not isinstance(in_features, int) or in_features < 0 or -(-in_features // per_byte) != k_bytes:
        raise ValueError(f"in_features {in_features!r} does not fit {k_bytes} packed bytes per "
                         f"row (needs ceil(in_features / {per_byte}) == {k_bytes})")
