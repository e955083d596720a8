"""``BitNetConfig``: the shape of a BitNet b1.58 transformer, checked, with named presets.

The field names are those of the transformers ``BitNetConfig`` (and the ``config.json`` of
the public checkpoints), so a checkpoint's configuration reads across one to one.

Presets (:data:`PRESETS`, :meth:`BitNetConfig.preset`):

``"2b4t"``
    BitNet b1.58 2B4T (microsoft/bitnet-b1.58-2B-4T): grouped-query attention with 5 KV
    heads, squared-ReLU gated FFN, tied embeddings (the checkpoint has no ``lm_head.weight``).
``"700M"``, ``"1.3B"``, ``"3B"``
    The sizes of the BitNet b1.58 paper, with the numbers of the public 1bitLLM/bitnet_b1_58
    ``config.json`` files (LLaMA tokenizer, 32002 tokens, multi-head attention, separate
    ``lm_head``) and that family's block (``family="1bitllm"``: SiLU gated FFN, full-precision
    weights quantized when loaded).
``"tiny"``
    A byte-level model small enough to train on a CPU in seconds, for tests and demos.
"""

import dataclasses
import math

from ..spec.formats import MODEL_SHAPES, MODEL_VOCAB_SIZES, ModelShape, accumulator_bits

__all__ = ["BitNetConfig", "PRESETS", "FAMILIES", "HIDDEN_ACTS", "LINEAR_CLASSES",
           "QUANTIZATION_MODES", "ROPE_TYPES"]

#: The two families of public BitNet b1.58 checkpoints; they differ in the names of the two
#: sub-norms, the attention-scale operation and how the weights are stored.
#: ``"2b4t"``: the transformers ``bitnet`` model (microsoft/bitnet-b1.58-2B-4T);
#: ``"1bitllm"``: the paper's models (1bitLLM/bitnet_b1_58-large, -xl, -3B).
FAMILIES = ("2b4t", "1bitllm")
#: FFN gate activations: squared ReLU (2B4T) and SiLU (LLaMA, the paper's models).
HIDDEN_ACTS = ("relu2", "silu")
#: How a stored ``weight_scale`` enters the output: ``"bitlinear"`` divides by it (it is
#: ``s_w = 1 / mean|W|``), ``"autobitlinear"`` multiplies by it (it is ``mean|W|``); the
#: transformers ``BitLinear`` and ``AutoBitLinear`` classes.
LINEAR_CLASSES = ("bitlinear", "autobitlinear")
#: ``"offline"``: the checkpoint holds ternary weights and their scale; ``"online"``: it holds
#: full-precision weights, quantized (absmean) when the model is loaded.
QUANTIZATION_MODES = ("offline", "online")
#: Rotary embeddings: plain, or with frequencies divided by ``rope_factor`` (transformers 5's
#: ``"linear"`` type).
ROPE_TYPES = ("default", "linear")

_POSITIVE_INTS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                  "num_attention_heads", "num_key_value_heads", "max_position_embeddings")


@dataclasses.dataclass(frozen=True)
class BitNetConfig:
    """Shape and numeric constants of a BitNet b1.58 decoder.

    Parameters
    ----------
    vocab_size : int
        Number of token ids (rows of the embedding, outputs of ``lm_head``).
    hidden_size : int
        Width of the residual stream.
    intermediate_size : int
        Width of the FFN (outputs of ``gate_proj`` and ``up_proj``).
    num_hidden_layers : int
        Number of decoder layers.
    num_attention_heads : int
        Query heads; ``hidden_size / num_attention_heads`` is the head size, which must be
        even (rotary embeddings rotate pairs of channels).
    num_key_value_heads : int
        Key/value heads (grouped-query attention); must divide ``num_attention_heads``.
    max_position_embeddings : int
        Longest sequence the model accepts.
    rms_norm_eps : float
        Epsilon inside every RMSNorm.
    rope_theta : float
        Base period of the rotary position embedding.
    tie_word_embeddings : bool
        Whether ``lm_head`` shares the embedding matrix (then a checkpoint has no
        ``lm_head.weight``).
    act_bits : int
        Width of the quantized activations that feed every BitLinear (8 in BitNet b1.58).
    family : str
        :data:`FAMILIES`: ``"2b4t"`` names the sub-norms ``self_attn.attn_sub_norm`` and
        ``mlp.ffn_sub_norm`` and scales attention scores by multiplying with
        ``head_dim ** -0.5`` (transformers 5); ``"1bitllm"`` names them
        ``self_attn.inner_attn_ln`` and ``mlp.ffn_layernorm`` and divides the scores by
        ``math.sqrt(head_dim)`` (the transformers 4.39 LLaMA code that family's modeling code
        follows). The two differ in the last bit unless ``sqrt(head_dim)`` is a power of two.
    hidden_act : str
        :data:`HIDDEN_ACTS`, the activation of the FFN gate.
    linear_class : str
        :data:`LINEAR_CLASSES`: the meaning of a stored ``weight_scale``.
    quantization_mode : str
        :data:`QUANTIZATION_MODES`: what a checkpoint of this model stores.
    rope_type : str
        :data:`ROPE_TYPES`.
    rope_factor : float
        The ``"linear"`` scaling factor (1.0 for ``"default"``).

    Raises
    ------
    TypeError
        When a field has the wrong kind (for example a float where an integer is needed).
    ValueError
        When a value breaks a rule; the message names the field, the rule and the value.
    """

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_position_embeddings: int
    rms_norm_eps: float = 1e-5
    rope_theta: float = 500000.0
    tie_word_embeddings: bool = False
    act_bits: int = 8
    family: str = "2b4t"
    hidden_act: str = "relu2"
    linear_class: str = "bitlinear"
    quantization_mode: str = "offline"
    rope_type: str = "default"
    rope_factor: float = 1.0

    def __post_init__(self):
        for name in _POSITIVE_INTS:
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("act_bits", self.act_bits, minimum=2)
        for name in ("rms_norm_eps", "rope_theta", "rope_factor"):
            _check_positive_float(name, getattr(self, name))
        if not isinstance(self.tie_word_embeddings, bool):
            raise TypeError(f"tie_word_embeddings must be a bool, not {self.tie_word_embeddings!r}")
        for name, choices in (("family", FAMILIES), ("hidden_act", HIDDEN_ACTS),
                              ("linear_class", LINEAR_CLASSES),
                              ("quantization_mode", QUANTIZATION_MODES), ("rope_type", ROPE_TYPES)):
            _check_choice(name, getattr(self, name), choices)
        if self.rope_type == "default" and self.rope_factor != 1.0:
            raise ValueError(f"rope_factor applies to rope_type 'linear' only, not {self.rope_factor!r} "
                             f"with rope_type 'default'")
        self._check_heads()
        self._check_accumulator()

    def _check_heads(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size must be divisible by num_attention_heads: "
                             f"{self.hidden_size} is not a multiple of {self.num_attention_heads}")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_attention_heads must be divisible by num_key_value_heads: "
                             f"{self.num_attention_heads} is not a multiple of {self.num_key_value_heads}")
        if self.head_dim % 2:
            raise ValueError(f"head size (hidden_size / num_attention_heads) must be even for rotary "
                             f"embeddings, not {self.head_dim}")

    def _check_accumulator(self):
        # Every BitLinear accumulates in int32 (the golden matmul and the hardware both do).
        widest_k = max(self.hidden_size, self.intermediate_size)
        bits = accumulator_bits(widest_k, self.act_bits)
        if bits > 32:
            raise ValueError(f"act_bits {self.act_bits} with an inner dimension of {widest_k} needs a "
                             f"{bits}-bit accumulator, more than the int32 the matmul uses")

    @property
    def shape(self):
        """The matrix shapes (:class:`~tritforge.spec.formats.ModelShape`)."""
        return ModelShape(self.hidden_size, self.intermediate_size, self.num_hidden_layers,
                          self.num_attention_heads, self.num_key_value_heads)

    @property
    def head_dim(self):
        """Channels per attention head."""
        return self.shape.head_dim

    @property
    def kv_size(self):
        """Output width of ``k_proj`` and ``v_proj``."""
        return self.shape.kv_size

    @property
    def sub_norm_names(self):
        """``(attention, ffn)``: the module names of the two sub-norms of a layer, relative to
        ``self_attn`` and ``mlp`` (they differ between the :data:`FAMILIES`)."""
        return ("attn_sub_norm", "ffn_sub_norm") if self.family == "2b4t" else ("inner_attn_ln", "ffn_layernorm")

    @property
    def weight_scale_multiplies(self):
        """True when a BitLinear multiplies its output by the stored ``weight_scale``
        (``AutoBitLinear`` with offline weights); otherwise it divides by ``s_w``."""
        return self.linear_class == "autobitlinear" and self.quantization_mode == "offline"

    @classmethod
    def preset(cls, name):
        """The named configuration from :data:`PRESETS` (frozen: use ``dataclasses.replace`` to vary it)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
        return PRESETS[name]

    def to_dict(self):
        """The fields as a plain dict (JSON-serializable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields):
        """Build a config from :meth:`to_dict` output.

        A key that is not a field raises ``ValueError``: a field silently dropped could change
        the computation. A checkpoint's ``config.json`` (transformers spellings) is read by
        :func:`tritforge.golden.hf_config.config_from_json` instead.
        """
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(fields) - set(known))
        if unknown:
            raise ValueError(f"unknown configuration field {unknown[0]!r}; the fields are {', '.join(known)}")
        return cls(**fields)

    def layer_linear_shapes(self):
        """``(name, out_features, in_features)`` of the seven BitLinears of one layer, in
        execution order; names are relative to the layer (``self_attn.q_proj``...)."""
        return self.shape.layer_linear_shapes()

    def linear_shapes(self):
        """``(name, out_features, in_features)`` of every BitLinear of the model, in execution
        order, named by module path (``model.layers.{i}.self_attn.q_proj``...).

        ``lm_head`` is a float linear layer and is not listed.
        """
        return self.shape.linear_shapes()

    def ternary_weight_count(self):
        """Number of ternary weights in the whole model."""
        return self.shape.ternary_weight_count()


def _check_int(name, value, minimum):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value!r}")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def _check_positive_float(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, not {value!r}")
    if not 0 < value < math.inf:
        raise ValueError(f"{name} must be positive and finite, not {value!r}")


def _preset(name, **fields):
    """The model preset ``name``: its shape from :data:`~tritforge.spec.formats.MODEL_SHAPES`
    plus the other fields of its ``config.json``."""
    return BitNetConfig(**dataclasses.asdict(MODEL_SHAPES[name]), vocab_size=MODEL_VOCAB_SIZES[name], **fields)


#: The fields of the 1bitLLM/bitnet_b1_58 config.json files of the paper's models.
_PAPER_MODEL = dict(max_position_embeddings=2048, rope_theta=10000.0,
                    tie_word_embeddings=False, family="1bitllm", hidden_act="silu",
                    quantization_mode="online")

#: Named configurations; the config objects are frozen, so sharing them is safe.
PRESETS = {
    "2b4t": _preset("2b4t", max_position_embeddings=4096, rope_theta=500000.0,
                    tie_word_embeddings=True),
    "700M": _preset("700M", **_PAPER_MODEL),
    "1.3B": _preset("1.3B", **_PAPER_MODEL),
    "3B": _preset("3B", **_PAPER_MODEL),
    "tiny": _preset("tiny", max_position_embeddings=256, rope_theta=10000.0,
                    tie_word_embeddings=True),
}
