"""A tiny BitNet b1.58 model trained in seconds: realistic ternary weights for tests and demos.

:func:`train_tiny` runs a deterministic quantization-aware training recipe
(:class:`TinyRecipe`) on the ``"tiny"`` preset: byte-level tokens, the English text shipped at
``golden/data/tiny_corpus.txt`` (the last tenth held out for validation), AdamW, warm-up and
cosine learning-rate decay, one CPU thread. :func:`tiny_model` returns the trained model,
training it only the first time on a machine: the result is cached as a checkpoint whose
name is a hash of the recipe, the configuration and the corpus.

:func:`generate_greedy` and :func:`complete_text` continue a prompt, for demos.
"""

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from importlib import resources
from pathlib import Path

import torch
from torch.nn import functional as F

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import PRESETS
from .model import BitNetModel

__all__ = ["TinyRecipe", "TrainReport", "train_tiny", "tiny_model", "corpus_bytes", "split_corpus",
           "evaluate_loss", "unigram_loss", "generate_greedy", "complete_text"]

logger = logging.getLogger(__name__)

#: Bump when the training code changes in a way that changes the trained weights.
RECIPE_VERSION = 1
#: Environment variable naming the cache folder of :func:`tiny_model`.
CACHE_ENV = "TRITFORGE_CACHE"


@dataclasses.dataclass(frozen=True)
class TinyRecipe:
    """Hyper-parameters of the tiny model's training (all of them enter the cache key).

    Parameters
    ----------
    steps : int
        Optimizer steps.
    seed : int
        Seeds the initialization and the batch sampling.
    batch_size, seq_len : int
        Each step trains on ``batch_size`` random windows of ``seq_len + 1`` bytes.
    learning_rate : float
        Peak AdamW learning rate (BitNet models want larger ones than float models).
    warmup_steps : int
        Linear warm-up; then cosine decay to ``min_lr_ratio * learning_rate``.
    min_lr_ratio, weight_decay, grad_clip : float
    validation_fraction : float
        Share of the corpus, at its end, kept out of training.
    """

    steps: int = 400
    seed: int = 0
    batch_size: int = 16
    seq_len: int = 64
    learning_rate: float = 8e-3
    warmup_steps: int = 20
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    validation_fraction: float = 0.1

    def __post_init__(self):
        for name in ("steps", "batch_size", "seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), not {self.validation_fraction!r}")

    def cache_key(self, config):
        """Hex digest naming the model this recipe trains from ``config`` and the corpus."""
        identity = {"version": RECIPE_VERSION, "recipe": dataclasses.asdict(self),
                    "config": config.to_dict(), "corpus": hashlib.sha256(corpus_bytes()).hexdigest()}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


@dataclasses.dataclass
class TrainReport:
    """What a training run measured (losses in nats per byte).

    Attributes
    ----------
    losses : list of float
        Training loss of every step.
    loss_start, loss_end : float
        Mean training loss of the first and of the last ten steps.
    validation_loss : float
        Loss of the trained (frozen) model on the held-out text.
    unigram_loss : float
        Loss on the held-out text of the byte frequencies of the training text: the level
        a model that ignores context reaches.
    zero_share : float
        Fraction of the ternary weights that are zero.
    seconds : float
        Wall-clock training time.
    """

    losses: list
    loss_start: float
    loss_end: float
    validation_loss: float
    unigram_loss: float
    zero_share: float
    seconds: float

    def to_dict(self):
        """Everything but the per-step curve (JSON-serializable)."""
        return {key: value for key, value in dataclasses.asdict(self).items() if key != "losses"}


def corpus_bytes():
    """The training text, as bytes."""
    return resources.files(__package__).joinpath("data/tiny_corpus.txt").read_bytes()


def split_corpus(validation_fraction=TinyRecipe.validation_fraction):
    """``(train, validation)`` int64 token tensors: the corpus bytes, the last part held out."""
    tokens = torch.tensor(list(corpus_bytes()), dtype=torch.int64)
    boundary = int(len(tokens) * (1 - validation_fraction))
    return tokens[:boundary], tokens[boundary:]


def train_tiny(steps=TinyRecipe.steps, seed=0, recipe=None, config=None):
    """Train a byte-level model on the shipped corpus with quantization-aware training.

    Parameters
    ----------
    steps, seed : int
        Shortcuts for the fields of the default :class:`TinyRecipe`.
    recipe : TinyRecipe, optional
        The full recipe; when given, ``steps`` and ``seed`` are ignored.
    config : BitNetConfig, optional
        Model shape; the ``"tiny"`` preset by default. Its vocabulary must cover bytes.

    Returns
    -------
    model : BitNetModel
        Frozen (ternary weights) and in eval mode.
    report : TrainReport
    """
    recipe = recipe or TinyRecipe(steps=steps, seed=seed)
    config = config or PRESETS["tiny"]
    if config.vocab_size < 256 or config.max_position_embeddings < recipe.seq_len:
        raise ValueError(f"config must have vocab_size >= 256 and max_position_embeddings >= "
                         f"{recipe.seq_len}, not {config.vocab_size} and {config.max_position_embeddings}")
    train_tokens, validation_tokens = split_corpus(recipe.validation_fraction)
    started = time.perf_counter()
    with _isolated():
        torch.manual_seed(recipe.seed)
        model = BitNetModel(config)
        losses = _optimize(model, train_tokens, recipe)
        model.freeze().eval()
        validation_loss = evaluate_loss(model, validation_tokens, recipe.seq_len)
    window = min(10, len(losses))
    report = TrainReport(
        losses=losses, loss_start=sum(losses[:window]) / window, loss_end=sum(losses[-window:]) / window,
        validation_loss=validation_loss, unigram_loss=unigram_loss(train_tokens, validation_tokens),
        zero_share=model.zero_share(), seconds=time.perf_counter() - started)
    logger.info("trained tiny model: %s", report.to_dict())
    return model, report


def _optimize(model, tokens, recipe):
    """Run the training loop; returns the loss of every step."""
    model.train()
    batches = torch.Generator().manual_seed(recipe.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, betas=(0.9, 0.95),
                                  weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _learning_rate_multiplier(recipe))
    losses = []
    for _ in range(recipe.steps):
        inputs, targets = _random_windows(tokens, recipe.batch_size, recipe.seq_len, batches)
        loss = _next_token_loss(model, inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


def _learning_rate_multiplier(recipe):
    """The learning-rate multiplier of each step: linear warm-up, then cosine decay."""
    def multiplier(step):
        if step < recipe.warmup_steps:
            return (step + 1) / recipe.warmup_steps
        progress = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        return recipe.min_lr_ratio + (1 - recipe.min_lr_ratio) * cosine
    return multiplier


def _random_windows(tokens, batch_size, seq_len, generator):
    starts = torch.randint(0, len(tokens) - seq_len, (batch_size,), generator=generator)
    windows = torch.stack([tokens[start:start + seq_len + 1] for start in starts.tolist()])
    return windows[:, :-1], windows[:, 1:]


def _next_token_loss(model, inputs, targets):
    logits = model(inputs)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def evaluate_loss(model, tokens, seq_len):
    """Mean next-byte cross-entropy (nats) of ``model`` over ``tokens``.

    The text is cut into consecutive windows of ``seq_len + 1`` tokens sharing one token at
    each border, so every token but the first is predicted once, from the context of its
    own window.
    """
    if len(tokens) < 2:
        raise ValueError(f"need at least 2 tokens to evaluate a loss, not {len(tokens)}")
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(tokens) - 1, seq_len):
            window = tokens[start:start + seq_len + 1].unsqueeze(0)
            loss = _next_token_loss(model, window[:, :-1], window[:, 1:])
            total += loss.item() * (window.shape[1] - 1)
            count += window.shape[1] - 1
    return total / count


def unigram_loss(train_tokens, validation_tokens, vocab_size=256):
    """Cross-entropy (nats) on ``validation_tokens`` of the add-one-smoothed token
    frequencies of ``train_tokens``: the baseline a context-free model reaches."""
    counts = torch.bincount(train_tokens, minlength=vocab_size).double() + 1
    log_probs = (counts / counts.sum()).log()
    return -log_probs[validation_tokens].mean().item()


def tiny_model(cache_dir=None, recipe=None):
    """The trained tiny model (frozen, eval mode), trained once and then read from a cache.

    Parameters
    ----------
    cache_dir : str or os.PathLike, optional
        Folder of the cached checkpoints; by default ``$TRITFORGE_CACHE`` or
        ``~/.cache/tritforge``.
    recipe : TinyRecipe, optional
        The default recipe unless given.

    Notes
    -----
    The cache file ``tiny-<key>.safetensors`` is keyed by :meth:`TinyRecipe.cache_key`; a
    cached file that cannot be loaded is logged and replaced by a fresh training run. The
    training report is kept in the checkpoint's metadata under ``"tritforge.train_report"``.
    """
    recipe = recipe or TinyRecipe()
    config = PRESETS["tiny"]
    path = _cache_dir(cache_dir) / f"tiny-{recipe.cache_key(config)}.safetensors"
    if path.exists():
        try:
            return load_checkpoint(path, config)
        except CheckpointError as error:
            logger.warning("retraining: cached tiny model unusable: %s", error)
    logger.info("training the tiny model (%s not cached yet)", path)
    model, report = train_tiny(recipe=recipe, config=config)
    save_checkpoint(model, path, metadata={"tritforge.train_report": json.dumps(report.to_dict())})
    return model


def _cache_dir(cache_dir):
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tritforge")


def generate_greedy(model, input_ids, max_new_tokens, on_token=None):
    """Append ``max_new_tokens`` most-likely tokens to ``input_ids`` ``[B, T]``.

    Decodes with a :class:`~tritforge.golden.model.KVCache`, whose logits equal the full
    forward pass's exactly. Past ``max_position_embeddings`` the context slides: each step then
    recomputes the last ``max_position_embeddings`` tokens. ``on_token()`` is called after
    each new token (to time the steps).
    """
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative integer, not {max_new_tokens!r}")
    limit = model.config.max_position_embeddings
    ids, cache = input_ids, None
    with torch.no_grad():
        for _ in range(max_new_tokens):
            if cache is None or ids.shape[1] > limit:
                cache, fresh = model.new_cache(), ids[:, -limit:]
            else:
                fresh = ids[:, -1:]
            logits = model(fresh, cache=cache, last_only=True)
            ids = torch.cat([ids, logits[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
            if on_token is not None:
                on_token()
    return ids


def complete_text(model, prompt, max_new_tokens=40):
    """Continue the text ``prompt`` greedily with a byte-level model; returns only the
    continuation (invalid UTF-8 shown as replacement characters)."""
    prompt_ids = torch.tensor([list(prompt.encode())], dtype=torch.int64)
    ids = generate_greedy(model, prompt_ids, max_new_tokens)
    return bytes(ids[0, prompt_ids.shape[1]:].tolist()).decode(errors="replace")


@contextlib.contextmanager
def _isolated():
    """Run on one CPU thread (results then do not depend on the machine's core count) with
    a private random state (seeding does not disturb the caller's)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(previous)
