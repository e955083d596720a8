"""Fixtures and helpers shared by the golden-model tests (import what a test file needs).

The trained tiny model comes from :func:`tritforge.golden.tiny_model`, which trains once per
machine and then reads its cache (``$TRITFORGE_CACHE`` or ``~/.cache/tritforge``).
"""

import dataclasses

import pytest
import torch

from tritforge.golden import PRESETS, BitNetModel, tiny_model


def tiny_config(**changes):
    """The ``"tiny"`` preset, with some fields changed."""
    return dataclasses.replace(PRESETS["tiny"], **changes)


def random_model(config=None, seed=0):
    """An untrained model with seeded random weights, in eval mode.

    RMSNorm gains are randomized too (a new model has all ones), so a test that mixes up
    two norms' weights sees it.
    """
    torch.manual_seed(seed)
    model = BitNetModel(config or tiny_config())
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight"):
                parameter.uniform_(0.5, 1.5)
    return model.eval()


def random_tokens(config, batch=2, length=24, seed=1):
    """Seeded token ids ``[batch, length]`` within the vocabulary of ``config``."""
    return torch.randint(0, config.vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed))


def logits_of(model, input_ids):
    with torch.no_grad():
        return model(input_ids)


@pytest.fixture(scope="session")
def trained_tiny_model():
    """The trained tiny model (frozen, eval mode), shared by the whole session."""
    return tiny_model()
