"""Optimizer parameter groups, the LAMB update against a hand computation, and the lr schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import BertConfig

from pretrain.config import TrainConfig
from pretrain.modeling.linkbert import LinkBertForPreTraining
from pretrain.training.optim import Lamb, build_optimizer, param_groups
from pretrain.training.schedule import LrSchedule, WarmupLinearDecay


def tiny_model() -> LinkBertForPreTraining:
    config = BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    config.num_drp_labels = 3
    return LinkBertForPreTraining(config)


def test_no_weight_decay_on_biases_and_layer_norms():
    model = tiny_model()
    decay, no_decay = param_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(not names[id(p)].endswith("bias") and "LayerNorm" not in names[id(p)] for p in decay["params"])
    assert all(names[id(p)].endswith("bias") or "LayerNorm" in names[id(p)] for p in no_decay["params"])
    assert "bert.embeddings.word_embeddings.weight" in {names[id(p)] for p in decay["params"]}
    total = len(decay["params"]) + len(no_decay["params"])
    assert total == len(list(model.parameters()))  # the tied decoder weight counted once


def test_adamw_settings_follow_the_config():
    opt = build_optimizer(tiny_model(), TrainConfig(lr=1e-3, betas=(0.9, 0.98), eps=1e-6))
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.defaults["betas"] == (0.9, 0.98) and opt.defaults["eps"] == 1e-6
    assert isinstance(build_optimizer(tiny_model(), TrainConfig(optimizer="lamb")), Lamb)


def test_lamb_matches_a_hand_computed_update():
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) for _ in range(3)]
    lr, b1, b2, eps, wd = 0.1, 0.9, 0.999, 1e-6, 0.01
    param = torch.nn.Parameter(torch.tensor(w0))
    opt = Lamb([param], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    for t, g in enumerate(grads, start=1):
        param.grad = torch.tensor(g)
        opt.step()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        update = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps) + wd * w
        w = w - lr * np.linalg.norm(w) / np.linalg.norm(update) * update
        np.testing.assert_allclose(param.detach().numpy(), w, rtol=1e-10)


def test_lamb_zero_weights_fall_back_to_a_plain_step():
    param = torch.nn.Parameter(torch.zeros(3))
    opt = Lamb([param], lr=0.5)
    param.grad = torch.tensor([1.0, -2.0, 0.5])
    opt.step()
    assert torch.all(torch.isfinite(param)) and torch.allclose(param.abs(), torch.full((3,), 0.5), atol=1e-3)


def test_warmup_then_linear_decay_to_min_ratio():
    f = WarmupLinearDecay(warmup=4, total=14, min_ratio=0.1)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == 1.0 and f(9) == pytest.approx(0.55) and f(14) == pytest.approx(0.1)
    assert f(100) == pytest.approx(0.1)  # past max_steps (a longer resumed run) it stays at the floor
    assert WarmupLinearDecay(0, 10, 0.0)(0) == 1.0


def test_the_schedule_is_a_function_of_the_config_and_the_step():
    """A resumed run rebuilds the schedule from its config: the lr of update 5 is the same whether 5 updates
    ran before or none did, and the schedule holds no state to save."""
    cfg = TrainConfig(lr=1.0, warmup_steps=3, max_steps=10, min_lr_ratio=0.0)
    opt = build_optimizer(tiny_model(), cfg)
    schedule = LrSchedule.for_groups(opt.param_groups, cfg)
    for update in range(5):
        schedule.apply(opt.param_groups, update)
        opt.step()
    resumed = build_optimizer(tiny_model(), cfg)
    again = LrSchedule.for_groups(resumed.param_groups, cfg)
    assert again == schedule  # frozen dataclasses of config values: nothing private to restore
    assert again.apply(resumed.param_groups, 5) == schedule.apply(opt.param_groups, 5)
    assert math.isclose(resumed.param_groups[0]["lr"], 1.0 - 2 / 7)
    assert [g["lr"] for g in resumed.param_groups] == [g["lr"] for g in opt.param_groups]


def test_fresh_parameters_get_their_own_groups_lr_and_schedule():
    """Heads a warm start lacks learn at train.fresh_lr_scale x lr from step 0; the warm-started weights wait
    train.fresh_warmup_steps steps, then warm up and decay over the rest of the run."""
    model = tiny_model()
    fresh = {n for n, _ in model.named_parameters() if n.startswith("cls.")}
    cfg = TrainConfig(lr=1e-3, warmup_steps=2, max_steps=12, fresh_lr_scale=10.0, fresh_warmup_steps=4)
    opt = build_optimizer(model, cfg, fresh=fresh)
    names = {id(p): n for n, p in model.named_parameters()}
    assert [g["fresh"] for g in opt.param_groups] == [False, False, True, True]
    for group in opt.param_groups:
        assert all((names[id(p)] in fresh) == group["fresh"] for p in group["params"])
    schedule = LrSchedule.for_groups(opt.param_groups, cfg)
    lrs = []
    for update in range(12):
        lrs.append(schedule.apply(opt.param_groups, update))
        opt.step()
    held, heads = [row[0] for row in lrs], [row[2] for row in lrs]
    assert held[:4] == [0.0] * 4 and held[4:6] == pytest.approx([5e-4, 1e-3])
    assert held[6] == pytest.approx(1e-3) and held[7] == pytest.approx(1e-3 * (1 - 1 / 6))
    assert held[11] == pytest.approx(1e-3 * (1 - 5 / 6))  # reaches 0 at max_steps, as the heads do
    assert heads[:2] == pytest.approx([5e-3, 1e-2]) and heads[11] == pytest.approx(1e-2 * (1 - 9 / 10))
    # Without fresh parameters (a model from scratch) nothing is held: BERT's two groups, one schedule.
    plain = build_optimizer(tiny_model(), cfg)
    assert len(plain.param_groups) == 2
    LrSchedule.for_groups(plain.param_groups, cfg).apply(plain.param_groups, 0)
    assert plain.param_groups[0]["lr"] == pytest.approx(5e-4)
