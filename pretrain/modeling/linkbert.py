"""LinkBertForPreTraining: BERT encoder + MLM head + Document Relation Prediction head, and how to build it.

Parameter names follow `BertForPreTraining` (`bert.*`, `cls.predictions.*`, `cls.seq_relationship.*`), so
an exported model loads into `BertModel`, `BertForMaskedLM` and the `AutoModel*` classes unchanged; only
the DRP head differs from BERT's NSP head: one class per relation of `drp.relations` (by default 3:
contiguous, random, linked; [contiguous, random] has NSP's shape), and it reads the pair through the
read-out of `drp.readout` (`DRP_READOUTS`), stored in the model's config as `drp_readout`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from transformers import BertConfig, BertModel, BertPreTrainedModel
from transformers.models.bert.modeling_bert import BertLMPredictionHead
from transformers.utils import ModelOutput

from foundation.errors import PipelineError
from foundation.paths import resolve_path
from pretrain.config import APART_READOUTS, DRP_READOUTS, ModelConfig

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
DRP_HEAD_PREFIX = "cls.seq_relationship."
POOLER_PREFIX = "bert.pooler."

# What the DRP classifier reads (config.drp_readout; the choices are pretrain.config.DRP_READOUTS):
#   pooler    tanh(W h_[CLS] + b): BERT's NSP read-out, the paper's.
#   cls       h_[CLS] itself, without the pooler.
#   segments  [u, v, |u - v|, u * v] with u, v the means of A's and B's token states in the pair's own
#             forward pass (token types 0 and 1), at unit length x sqrt(hidden) (`pair_features`): the
#             classifier sees both segments, not one summary token.
#   siamese   the same features of A and B encoded apart (`encode_apart`, one more encoder pass over
#             the unmasked text), the way a sentence encoder embeds them.
#   cosine    A and B encoded apart, and the classifier reads their cosine only: logits
#             COSINE_SCALE x (slope x cos + bias) per relation. It starts as the frozen warm start's
#             cosine baseline (`init_cosine_head`: the relations' order and thresholds fit on training
#             pairs), and DRP then trains the embedding geometry itself; with nothing but a similarity to
#             read, it cannot memorize which training documents link (the few links of a small corpus
#             repeat in every epoch), so what it learns carries over to unseen documents.
# Read-outs other than `pooler` leave the pooler untouched: it is frozen and exported as loaded.
LEGACY_READOUT = "pooler"  # checkpoints and exports written before the setting existed
# The cosine read-out's logits are COSINE_SCALE x (slope x cos + bias): at unit scale a head's Adam steps
# (~lr each) would move its thresholds by far less than the cosines differ between relations.
COSINE_SCALE = 20.0


@dataclass
class LinkBertPreTrainingOutput(ModelOutput):
    """What one forward pass returns.

    With MLM `labels`, the vocabulary projection runs only on the masked positions: `mlm_logits` is
    [num_masked, vocab] and `mlm_labels` [num_masked] are their targets, in row-major (batch, position)
    order. Without labels (inference), `prediction_logits` holds the full [B, T, vocab] scores instead.
    """

    loss: torch.Tensor | None = None
    mlm_loss: torch.Tensor | None = None
    drp_loss: torch.Tensor | None = None
    mlm_logits: torch.Tensor | None = None
    mlm_labels: torch.Tensor | None = None
    drp_logits: torch.Tensor | None = None
    prediction_logits: torch.Tensor | None = None


class LinkBertPreTrainingHeads(nn.Module):
    """BERT's pretraining heads with the NSP classifier widened to `config.num_drp_labels` classes and
    sized for its read-out's features."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)
        readout = drp_readout(config)
        width = {"segments": 4 * config.hidden_size, "siamese": 4 * config.hidden_size, "cosine": 1}
        self.seq_relationship = nn.Linear(width.get(readout, config.hidden_size), num_drp_labels(config))


def num_drp_labels(config: BertConfig) -> int:
    return int(getattr(config, "num_drp_labels", 3))


def init_cosine_head(model: LinkBertForPreTraining, order: tuple[int, ...], cuts: tuple[float, ...]) -> None:
    """Set the cosine read-out's head to the threshold classifier of the frozen-cosine baseline: relation
    order[j] wins for cuts[j-1] > cos >= cuts[j]. Slopes fall by 1 along the order and the biases add up
    the cuts, so each adjacent pair of relations meets exactly at its cut."""
    head = model.cls.seq_relationship
    k = len(order)
    slopes, biases = torch.zeros(k), torch.zeros(k)
    bias = 0.0
    for j, relation in enumerate(order):
        slopes[relation] = (k - 1) / 2 - j
        biases[relation] = bias
        if j < len(cuts):
            bias += min(max(float(cuts[j]), -1.0), 1.0)  # an infinite cut: that relation never wins
    with torch.no_grad():
        head.weight.copy_(slopes.unsqueeze(1).to(head.weight.dtype))
        head.bias.copy_(biases.to(head.bias.dtype))


def drp_readout(config: BertConfig) -> str:
    readout = str(getattr(config, "drp_readout", LEGACY_READOUT))
    if readout not in DRP_READOUTS:
        raise PipelineError(
            f"drp_readout={readout!r} in the model config: known read-outs are {DRP_READOUTS}"
        )
    return readout


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean token state over attended positions, [B, H]: the mean pooling sentence encoders are trained
    with, shared by the apart read-outs and the frozen-cosine baseline so both read the same vector."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def segment_means(hidden: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
    """Mean token state of segment A (token type 0, [CLS] and its [SEP] included) and of segment B
    (token type 1, its [SEP] included), over attended positions only: [B, H] each."""
    attended = attention_mask.to(hidden.dtype)
    in_b = token_type_ids.to(hidden.dtype) * attended
    in_a = attended - in_b
    sum_a = torch.einsum("bt,bth->bh", in_a, hidden)
    sum_b = torch.einsum("bt,bth->bh", in_b, hidden)
    u = sum_a / in_a.sum(1, keepdim=True).clamp(min=1.0)
    v = sum_b / in_b.sum(1, keepdim=True).clamp(min=1.0)
    return u, v


def pair_features(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The `segments` read-out's features of two segment vectors: sentence-BERT's classifier input
    [u, v, |u - v|, u * v] of the vectors scaled to unit length times sqrt(hidden).

    Why scaled: raw mean states have outlier dimensions whose squares swing the logits as MLM moves the
    encoder (held-out DRP flipped between classes from one evaluation to the next); at unit RMS per
    dimension every feature is O(1), and the u * v block sums to hidden * cos(u, v), so a uniform weight
    on it reads the cosine that a sentence encoder's geometry is built around."""
    scale = u.shape[-1] ** 0.5
    u = F.normalize(u.float(), dim=-1).to(u.dtype) * scale
    v = F.normalize(v.float(), dim=-1).to(v.dtype) * scale
    return torch.cat([u, v, (u - v).abs(), u * v], dim=-1)


class LinkBertForPreTraining(BertPreTrainedModel):
    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.drp_readout = drp_readout(config)
        self.bert = BertModel(config, add_pooling_layer=True)
        self.cls = LinkBertPreTrainingHeads(config)
        self.post_init()
        if self.drp_readout != "pooler":
            # Kept so the export stays a complete BertModel, but nothing reads it: no gradient (DDP would
            # wait for one), no optimizer state, and the warm start's values are exported unchanged.
            self.bert.pooler.requires_grad_(False)

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    @property
    def mlm_weight(self) -> float:
        return float(getattr(self.config, "mlm_weight", 1.0))

    @property
    def drp_weight(self) -> float:
        return float(getattr(self.config, "drp_weight", 1.0))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        drp_labels: torch.Tensor | None = None,
    ) -> LinkBertPreTrainingOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        encoded = self.bert(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, return_dict=True
        )
        sequence_output = encoded.last_hidden_state
        if self.drp_readout in APART_READOUTS:
            # A and B encoded apart, as the user's text without MLM masks: one more encoder pass.
            text = input_ids if labels is None else torch.where(labels != IGNORE_INDEX, labels, input_ids)
            features = self.apart_features(*self.encode_apart(text, attention_mask, token_type_ids))
        else:
            features = self.drp_features(
                sequence_output, encoded.pooler_output, attention_mask, token_type_ids
            )
        drp_logits = self.classify(features)
        out = LinkBertPreTrainingOutput(drp_logits=drp_logits)

        losses = []
        if labels is not None:
            # Project only the ~15% masked positions onto the vocabulary: the [*, hidden] x [hidden, vocab]
            # matmul is the largest single op of a BERT, so this saves 17-18% of the FLOPs at base size
            # (bench/mlm_head.py). The boolean index is a host-device sync (its size is data-dependent).
            flat_labels = labels.reshape(-1)
            selected = flat_labels != IGNORE_INDEX
            masked_hidden = sequence_output.reshape(-1, sequence_output.shape[-1])[selected]
            out.mlm_logits = self.cls.predictions(masked_hidden)
            out.mlm_labels = flat_labels[selected]
            if out.mlm_labels.numel() > 0:
                out.mlm_loss = F.cross_entropy(out.mlm_logits.float(), out.mlm_labels)
            else:
                # No masked token in this micro batch: a zero that still reaches every MLM parameter, so
                # DDP's gradient buckets stay in step across ranks.
                out.mlm_loss = out.mlm_logits.float().sum() * 0.0
            losses.append(self.mlm_weight * out.mlm_loss)
        else:
            out.prediction_logits = self.cls.predictions(sequence_output)

        if drp_labels is not None:
            out.drp_loss = F.cross_entropy(drp_logits.float(), drp_labels.reshape(-1))
            losses.append(self.drp_weight * out.drp_loss)

        if losses:
            out.loss = losses[0] if len(losses) == 1 else losses[0] + losses[1]
        return out

    def drp_logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """DRP logits of `[CLS] A [SEP] B [SEP]` pairs as given (no MLM masks), without the MLM head: what
        evaluation and scoring need (the forward pass would also project every position onto the
        vocabulary, the largest single op of a BERT)."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        if self.drp_readout in APART_READOUTS:
            features = self.apart_features(*self.encode_apart(input_ids, attention_mask, token_type_ids))
        else:
            encoded = self.bert(
                input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, return_dict=True
            )
            features = self.drp_features(
                encoded.last_hidden_state, encoded.pooler_output, attention_mask, token_type_ids
            )
        return self.classify(features)

    def apart_features(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """What the classifier reads of A's and B's vectors encoded apart."""
        if self.drp_readout == "cosine":
            return F.cosine_similarity(u.float(), v.float(), dim=-1).unsqueeze(-1).to(u.dtype)
        return pair_features(u, v)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.cls.seq_relationship(features)
        return logits * COSINE_SCALE if self.drp_readout == "cosine" else logits

    def encode_apart(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean token states of `[CLS] A [SEP]` and `[CLS] B [SEP]`, each encoded alone in one batch of
        2 x rows: the pair's A (token type 0) and B (token type 1) cut out of `[CLS] A [SEP] B [SEP]`."""
        attended = attention_mask.bool()
        len_a = ((token_type_ids == 0) & attended).sum(1)  # [CLS] A [SEP]
        len_b = ((token_type_ids == 1) & attended).sum(1)  # B [SEP]
        width = int(torch.maximum(len_a, len_b + 1).max())
        pos = torch.arange(width, device=input_ids.device).unsqueeze(0)
        last = input_ids.shape[1] - 1
        a_ids = torch.gather(input_ids, 1, pos.expand(len(input_ids), -1).clamp(max=last))
        b_src = (len_a.unsqueeze(1) + pos - 1).clamp(min=0, max=last)
        b_ids = torch.gather(input_ids, 1, b_src)
        b_ids[:, 0] = input_ids[:, 0]  # B gets the [CLS] it had in front of A
        a_mask, b_mask = pos < len_a.unsqueeze(1), pos < (len_b + 1).unsqueeze(1)
        pad = self.config.pad_token_id or 0
        ids = torch.cat([a_ids.masked_fill(~a_mask, pad), b_ids.masked_fill(~b_mask, pad)])
        mask = torch.cat([a_mask, b_mask]).long()
        hidden = self.bert(ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
        means = masked_mean(hidden, mask)
        return means[: len(input_ids)], means[len(input_ids) :]

    def drp_features(
        self,
        sequence_output: torch.Tensor,
        pooled_output: torch.Tensor | None,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor,
    ) -> torch.Tensor:
        """What the DRP classifier reads, by `config.drp_readout`."""
        if self.drp_readout == "pooler":
            return pooled_output
        if self.drp_readout == "cls":
            return sequence_output[:, 0]
        return pair_features(*segment_means(sequence_output, attention_mask, token_type_ids))


# ----------------------------------------------------------------------------------------------
# Building: from scratch or warm-started from a local Hugging Face BERT folder


@dataclass
class WarmStartReport:
    """Which weights a warm start took from the checkpoint (names in our model's namespace)."""

    source: str
    loaded: list[str] = field(default_factory=list)
    newly_initialized: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # checkpoint tensors our model has no use for

    def summary(self) -> str:
        new = ", ".join(_group_names(self.newly_initialized)) or "none"
        ignored = ", ".join(_group_names(self.ignored)) or "none"
        return (
            f"warm start from {self.source}: {len(self.loaded)} tensors loaded, "
            f"{len(self.newly_initialized)} newly initialized ({new}), {len(self.ignored)} ignored ({ignored})"
        )


def _group_names(names: list[str]) -> list[str]:
    """Shorten a list of tensor names to their modules (`cls.predictions.transform.*`) for one log line."""
    groups: dict[str, None] = {}
    for name in names:
        groups[name.rsplit(".", 1)[0] + ".*" if "." in name else name] = None
    return list(groups)


def build_model(
    model_cfg: ModelConfig,
    *,
    vocab_size: int,
    drp_classes: int,
    pad_token_id: int,
    drp_readout: str = LEGACY_READOUT,
) -> tuple[LinkBertForPreTraining, WarmStartReport | None]:
    """A fresh model sized by `model_cfg`, or warm-started from `model_cfg.init_from` (then sized by it);
    the DRP head reads the pair through `drp_readout` (one of `DRP_READOUTS`)."""
    if drp_readout not in DRP_READOUTS:
        raise PipelineError(f"drp.readout={drp_readout!r}: choose one of {', '.join(DRP_READOUTS)}")
    if drp_classes < 2:
        raise PipelineError(f"the DRP head needs at least 2 classes (drp.relations), got {drp_classes}")
    if model_cfg.init_from is None:
        config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=model_cfg.hidden_size,
            num_hidden_layers=model_cfg.num_hidden_layers,
            num_attention_heads=model_cfg.num_attention_heads,
            intermediate_size=model_cfg.intermediate_size,
            max_position_embeddings=model_cfg.max_position_embeddings,
            pad_token_id=pad_token_id,
        )
        _apply_training_settings(config, model_cfg, drp_classes, drp_readout)
        model = LinkBertForPreTraining(config)
        log.info(
            "model from scratch: %d layers, hidden %d, %d heads, vocab %d, %d DRP classes, %.2fM parameters",
            config.num_hidden_layers,
            config.hidden_size,
            config.num_attention_heads,
            vocab_size,
            drp_classes,
            sum(p.numel() for p in model.parameters()) / 1e6,
        )
        return model, None
    return _warm_start(
        model_cfg,
        vocab_size=vocab_size,
        drp_classes=drp_classes,
        pad_token_id=pad_token_id,
        drp_readout=drp_readout,
    )


def _apply_training_settings(
    config: BertConfig, model_cfg: ModelConfig, drp_classes: int, drp_readout: str
) -> None:
    config.hidden_dropout_prob = model_cfg.hidden_dropout_prob
    config.attention_probs_dropout_prob = model_cfg.attention_probs_dropout_prob
    config.num_drp_labels = drp_classes
    config.drp_readout = drp_readout
    config.mlm_weight = model_cfg.mlm_weight
    config.drp_weight = model_cfg.drp_weight
    config.architectures = ["LinkBertForPreTraining"]
    config._attn_implementation = model_cfg.attn_implementation


def _warm_start(
    model_cfg: ModelConfig, *, vocab_size: int, drp_classes: int, pad_token_id: int, drp_readout: str
) -> tuple[LinkBertForPreTraining, WarmStartReport]:
    source = str(model_cfg.init_from)
    folder = resolve_path(source)
    if not (folder / "config.json").is_file():
        raise PipelineError(
            f"model.init_from={source}: {folder} is not a Hugging Face model folder (no config.json); "
            "point it at a local BERT checkpoint folder or set model.init_from=null to train from scratch"
        )
    config = BertConfig.from_pretrained(str(folder))
    if config.model_type != "bert":
        raise PipelineError(
            f"model.init_from={source}: model_type is {config.model_type!r}, only BERT checkpoints can "
            "warm-start LinkBertForPreTraining"
        )
    if config.vocab_size != vocab_size:
        raise PipelineError(
            f"model.init_from={source}: tensor bert.embeddings.word_embeddings.weight has shape "
            f"[{config.vocab_size}, {config.hidden_size}] but the corpus tokenizer has {vocab_size} tokens; "
            f"build the segments with this checkpoint's tokenizer (segments.tokenizer={source}) "
            "or train from scratch (model.init_from=null)"
        )
    if config.pad_token_id is None:
        config.pad_token_id = pad_token_id
    _apply_training_settings(config, model_cfg, drp_classes, drp_readout)
    log.info(
        "warm start from %s: architecture from its config.json (%d layers, hidden %d, %d heads, "
        "intermediate %d); the size fields of the model config are ignored",
        folder,
        config.num_hidden_layers,
        config.hidden_size,
        config.num_attention_heads,
        config.intermediate_size,
    )
    model = LinkBertForPreTraining(config)
    report = load_warm_start_weights(model, folder, source)
    log.info(report.summary())
    return model, report


def read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    """One `.safetensors` or pickled torch weights file; a damaged one is a PipelineError naming it."""
    try:
        if path.suffix == ".safetensors":
            # Deferred: safetensors loads only when a weights file is read.
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # safetensors, pickle and zip errors share no base class
        raise PipelineError(
            f"{path} is unreadable ({type(e).__name__}: {e}); the file is damaged or truncated, replace it"
        ) from e


def read_checkpoint_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """All tensors of a Hugging Face checkpoint folder: safetensors (single or sharded) or pytorch_model.bin."""
    single = folder / "model.safetensors"
    if single.is_file():
        return read_weights_file(single)
    shards = sorted(folder.glob("model-*-of-*.safetensors"))
    if shards:
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(read_weights_file(shard))
        return state
    legacy = folder / "pytorch_model.bin"
    if legacy.is_file():
        return read_weights_file(legacy)
    raise PipelineError(
        f"{folder}: no model.safetensors, model-*-of-*.safetensors or pytorch_model.bin to load weights from"
    )


def _our_name(key: str, ours: set[str]) -> str:
    """Map a checkpoint key into our namespace: `BertModel` checkpoints lack the `bert.` prefix,
    old TF-converted ones name LayerNorm parameters gamma/beta."""
    key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
    if key in ours:
        return key
    prefixed = f"bert.{key}"
    return prefixed if prefixed in ours else key


def load_warm_start_weights(model: LinkBertForPreTraining, folder: Path, source: str) -> WarmStartReport:
    """Copy every matching tensor of `folder` into `model`; shape mismatches are errors, except the DRP
    head, which is re-initialized when the checkpoint's classifier has another number of classes."""
    tied = set(model._tied_weights_keys)
    ours = {k: v for k, v in model.state_dict().items() if k not in tied}
    report = WarmStartReport(source=source)
    to_load: dict[str, torch.Tensor] = {}
    for key, tensor in read_checkpoint_tensors(folder).items():
        name = _our_name(key, set(ours))
        if name in tied:
            continue  # an alias of the word embeddings / MLM bias, loaded through them
        if name not in ours:
            report.ignored.append(key)
            continue
        want = tuple(ours[name].shape)
        if tuple(tensor.shape) != want:
            if name.startswith(DRP_HEAD_PREFIX):
                log.warning(
                    "%s: %s has shape %s, the DRP head needs %s: the head starts from random weights",
                    source,
                    key,
                    list(tensor.shape),
                    list(want),
                )
                report.ignored.append(key)
                continue
            raise PipelineError(
                f"model.init_from={source}: tensor {key} has shape {list(tensor.shape)} but the model needs "
                f"{list(want)}; the checkpoint's config.json does not match its weights, fix or replace it"
            )
        to_load[name] = tensor
    missing, _ = model.load_state_dict(to_load, strict=False)
    missing_set = set(missing)
    report.loaded = sorted(to_load)
    report.newly_initialized = sorted(k for k in ours if k not in to_load and k in missing_set)
    if not any(k.startswith("bert.encoder.") for k in to_load):
        raise PipelineError(
            f"model.init_from={source}: none of its tensors match a BERT encoder (keys like "
            "bert.encoder.layer.0.*); is it a BERT checkpoint?"
        )
    return report


__all__ = [
    "DRP_READOUTS",
    "IGNORE_INDEX",
    "LinkBertForPreTraining",
    "LinkBertPreTrainingOutput",
    "WarmStartReport",
    "build_model",
    "load_warm_start_weights",
    "init_cosine_head",
    "pair_features",
    "segment_means",
    "read_checkpoint_tensors",
    "read_weights_file",
]
