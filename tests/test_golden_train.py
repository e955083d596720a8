"""The tiny trained model: realistic ternary statistics, a loss clearly below the byte-unigram
baseline, deterministic training, the cache, and greedy generation."""

import logging
import math
import re

import pytest
import torch

from tritforge.golden import TinyRecipe, complete_text, generate_greedy, tiny_model, train_tiny
from tritforge.golden import train as train_module
from tritforge.golden.train import evaluate_loss, split_corpus, unigram_loss

from golden_fixtures import logits_of, random_model, random_tokens, trained_tiny_model  # noqa: F401

#: A recipe short enough to train many times in a test.
QUICK = TinyRecipe(steps=4, batch_size=4, seq_len=16, warmup_steps=2)


# --- the trained model ---------------------------------------------------------------------------

def test_trained_model_zero_share_is_realistic(trained_tiny_model):
    assert trained_tiny_model.frozen
    for name, linear in trained_tiny_model.bitlinears():
        shares = [(linear.weight_ternary == value).float().mean().item() for value in (-1, 0, 1)]
        assert 0.2 < shares[1] < 0.5, f"{name}: zero share {shares[1]:.3f}"
        assert min(shares[0], shares[2]) > 0.2, f"{name}: sign shares {shares[0]:.3f} / {shares[2]:.3f}"
    assert 0.25 < trained_tiny_model.zero_share() < 0.45


def test_trained_model_beats_unigram_baseline(trained_tiny_model):
    train_tokens, validation_tokens = split_corpus()
    baseline = unigram_loss(train_tokens, validation_tokens)
    loss = evaluate_loss(trained_tiny_model, validation_tokens, TinyRecipe().seq_len)
    assert loss < baseline - 0.5, f"validation loss {loss:.3f} vs unigram {baseline:.3f}"


def test_trained_model_generates_text(trained_tiny_model):
    continuation = complete_text(trained_tiny_model, "The weights of a ternary network ", 30)
    assert len(continuation.encode()) >= 30 - 3  # a multi-byte character may collapse to one
    words = re.findall(r"[a-z]+", continuation)
    assert sum(word in {"the", "and", "a", "of", "to", "is", "in"} for word in words) >= 1


# --- training --------------------------------------------------------------------------------

def test_train_tiny_is_deterministic():
    first_model, first = train_tiny(recipe=QUICK)
    second_model, second = train_tiny(recipe=QUICK)
    assert first.losses == second.losses and len(first.losses) == QUICK.steps
    ids = random_tokens(first_model.config)
    assert torch.equal(logits_of(first_model, ids), logits_of(second_model, ids))


def test_train_tiny_report():
    model, report = train_tiny(recipe=TinyRecipe(steps=40, seq_len=32, batch_size=8))
    assert model.frozen and not model.training
    assert report.loss_start == pytest.approx(sum(report.losses[:10]) / 10)
    assert report.loss_end < report.loss_start - 1.0
    assert report.zero_share == model.zero_share()
    assert set(report.to_dict()) == {"loss_start", "loss_end", "validation_loss", "unigram_loss",
                                     "zero_share", "seconds"}


def test_train_tiny_restores_threads_and_random_state():
    threads, random_state = torch.get_num_threads(), torch.get_rng_state()
    train_tiny(recipe=QUICK)
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), random_state)


@pytest.mark.parametrize("changes, message", [
    ({"steps": 0}, "steps must be an integer >= 1, not 0"),
    ({"seq_len": 8.0}, "seq_len must be an integer >= 1, not 8.0"),
    ({"validation_fraction": 1.0}, "validation_fraction must be in (0, 1), not 1.0"),
])
def test_recipe_wrong(changes, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        TinyRecipe(**changes)


def test_recipe_cache_key_follows_every_field():
    config = random_model().config
    keys = {TinyRecipe().cache_key(config), TinyRecipe(seed=1).cache_key(config),
            TinyRecipe(learning_rate=1e-3).cache_key(config), QUICK.cache_key(config)}
    assert len(keys) == 4
    assert TinyRecipe().cache_key(config) == TinyRecipe().cache_key(config)


def test_learning_rate_schedule():
    multiplier = train_module._learning_rate_multiplier(TinyRecipe(steps=100, warmup_steps=10, min_lr_ratio=0.1))
    assert multiplier(0) == pytest.approx(0.1) and multiplier(9) == pytest.approx(1.0)
    assert multiplier(10) == pytest.approx(1.0) and multiplier(55) == pytest.approx(0.55)
    assert multiplier(100) == pytest.approx(0.1)


# --- losses ----------------------------------------------------------------------------------

def test_unigram_loss_of_uniform_text_is_log_vocabulary():
    every_byte = torch.arange(256)
    assert unigram_loss(every_byte, every_byte) == pytest.approx(math.log(256))


def test_evaluate_loss_matches_direct_cross_entropy():
    model = random_model()
    tokens = random_tokens(model.config, batch=1, length=40)[0]
    direct = torch.nn.functional.cross_entropy(logits_of(model, tokens[None, :-1])[0], tokens[1:]).item()
    assert evaluate_loss(model, tokens, seq_len=64) == pytest.approx(direct, rel=1e-6)
    # Windows of 16 restart the context, so the loss differs, but still averages all 39 predictions.
    assert evaluate_loss(model, tokens, seq_len=16) != pytest.approx(direct, rel=1e-6)


def test_evaluate_loss_wrong():
    with pytest.raises(ValueError, match=r"^need at least 2 tokens to evaluate a loss, not 1$"):
        evaluate_loss(random_model(), torch.tensor([7]), seq_len=8)


# --- cache -----------------------------------------------------------------------------------

def test_tiny_model_trains_once_then_reads_the_cache(tmp_path, monkeypatch):
    first = tiny_model(cache_dir=tmp_path, recipe=QUICK)
    assert [path.name for path in tmp_path.iterdir()] == [f"tiny-{QUICK.cache_key(first.config)}.safetensors"]

    def no_training(**kwargs):
        raise AssertionError("tiny_model trained although a cached model exists")

    monkeypatch.setattr(train_module, "train_tiny", no_training)
    second = tiny_model(cache_dir=tmp_path, recipe=QUICK)
    ids = random_tokens(first.config)
    assert torch.equal(logits_of(second, ids), logits_of(first, ids))


def test_tiny_model_cache_folder_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TRITFORGE_CACHE", str(tmp_path / "from-env"))
    tiny_model(recipe=QUICK)
    assert len(list((tmp_path / "from-env").glob("tiny-*.safetensors"))) == 1


def test_tiny_model_replaces_a_corrupt_cache(tmp_path, caplog):
    model = tiny_model(cache_dir=tmp_path, recipe=QUICK)
    (cached,) = tmp_path.iterdir()
    cached.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger=train_module.__name__):
        retrained = tiny_model(cache_dir=tmp_path, recipe=QUICK)
    assert "retraining: cached tiny model unusable" in caplog.text
    ids = random_tokens(model.config)
    assert torch.equal(logits_of(retrained, ids), logits_of(model, ids))


# --- generation ------------------------------------------------------------------------------

def test_generate_greedy_appends_argmax_tokens():
    model = random_model()
    prompt = random_tokens(model.config, batch=2, length=5)
    ids = generate_greedy(model, prompt, 3)
    assert ids.shape == (2, 8) and torch.equal(ids[:, :5], prompt)
    for step in range(3):
        assert torch.equal(ids[:, 5 + step], logits_of(model, ids[:, :5 + step])[:, -1].argmax(dim=-1))


def test_generate_greedy_keeps_context_within_limit():
    model = random_model()
    prompt = random_tokens(model.config, batch=1, length=model.config.max_position_embeddings)
    assert generate_greedy(model, prompt, 2).shape == (1, model.config.max_position_embeddings + 2)


def test_generate_greedy_wrong():
    with pytest.raises(ValueError, match=r"^max_new_tokens must be a non-negative integer, not -1$"):
        generate_greedy(random_model(), torch.zeros(1, 1, dtype=torch.int64), -1)
