"""Rank documents for a text with an exported model's DRP head (`linkbert score`).

Each candidate is read as segment B of the pair `[CLS] text [SEP] candidate [SEP]`, exactly as the head
saw pairs in pretraining (A the anchor, B the other document), and gets one probability per relation of
`config.drp_relations`; `rank` orders the candidates by the probability of one relation ("linked": how
likely the text's document links to the candidate's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from foundation.errors import PipelineError
from pretrain.modeling.linkbert import LinkBertForPreTraining
from pretrain.relations import DEFAULT_RELATIONS, LINKED
from pretrain.relations import between_documents as possible


def drp_relations(config: Any) -> tuple[str, ...]:
    """The DRP head's class names, in label order: `drp_relations` of an export's config.json; exports
    written before it existed name a head of K classes by the first K default relations."""
    names = getattr(config, "drp_relations", None)
    if names:
        return tuple(str(n) for n in names)
    return tuple(DEFAULT_RELATIONS[: int(getattr(config, "num_drp_labels", 3))])


def check_export_folder(folder: Path) -> None:
    """A PipelineError naming `folder` unless it holds an exported model with a DRP head."""
    if not (folder / "config.json").is_file() or not any(folder.glob("*.safetensors")):
        raise PipelineError(
            f"{folder} is not an exported model folder (config.json + model.safetensors): "
            "make one with `linkbert export`"
        )
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if "num_drp_labels" not in config:
        # A plain BERT folder would load with a randomly initialized DRP head and score noise.
        raise PipelineError(
            f"{folder} has no DRP head (no num_drp_labels in its config.json): it is not a `linkbert export` "
            "folder; export a pretraining checkpoint with `linkbert export`"
        )


def load_export_model(folder: str | Path, device: torch.device | None = None) -> Any:
    """`LinkBertForPreTraining` of an export folder, fp32, in eval mode, on `device` (CUDA when there is one)."""

    folder = Path(folder)
    check_export_folder(folder)
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # fp32 whatever the export's dtype: probabilities are compared across candidates, bf16 ties them.
    model = LinkBertForPreTraining.from_pretrained(str(folder), dtype=torch.float32)
    return model.to(device).eval()


@torch.no_grad()
def drp_probabilities(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    token_type_ids: torch.Tensor,
    *,
    between_documents: bool = False,
) -> torch.Tensor:
    """Softmax of the DRP head for a batch of pairs, [B, num_relations] float32 on the CPU.

    `between_documents`: B is another document than A's, so relations whose B always comes from A's own
    document (contiguous) are impossible: their probability is 0 and the others are renormalized.

    Runs the encoder and the DRP head only: the model's own forward would also project every position onto
    the vocabulary, the largest single op of a BERT, for logits nothing here reads."""
    logits = model.drp_logits(input_ids, attention_mask, token_type_ids).float()
    if between_documents:
        allowed = torch.tensor(possible(drp_relations(model.config)), device=logits.device)
        logits = logits.masked_fill(~allowed, float("-inf"))
    return torch.softmax(logits, dim=-1).cpu()


@dataclass
class DocumentScorer:
    """An export's DRP head as a scorer of (text, candidate) pairs."""

    model: Any
    tokenizer: Any
    relations: tuple[str, ...]
    max_length: int
    batch_size: int = 32

    @classmethod
    def from_pretrained(
        cls, export_dir: str | Path, device: torch.device | str | None = None, *, batch_size: int = 32
    ) -> DocumentScorer:
        # Deferred: transformers takes seconds to import and only this path needs it.
        from transformers import AutoTokenizer

        folder = Path(export_dir)
        model = load_export_model(folder, torch.device(device) if device is not None else None)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
        except (OSError, ValueError) as e:
            raise PipelineError(
                f"{folder} has no loadable tokenizer ({e}); `linkbert export` writes it beside the weights, "
                "export the checkpoint again"
            ) from e
        relations = drp_relations(model.config)
        if len(relations) != int(model.config.num_drp_labels):
            raise PipelineError(
                f"{folder}: config.json names {len(relations)} DRP relations ({', '.join(relations)}) for a head "
                f"of {model.config.num_drp_labels} classes; the export is inconsistent, export it again"
            )
        # A tokenizer saved without a limit reports a huge model_max_length; the position table is the real one.
        max_length = min(int(tokenizer.model_max_length), int(model.config.max_position_embeddings))
        return cls(model, tokenizer, relations, max_length, batch_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def relation_index(self, relation: str) -> int:
        if relation not in self.relations:
            raise PipelineError(
                f"relation {relation!r} is not one of this model's DRP relations: {', '.join(self.relations)}"
            )
        return self.relations.index(relation)

    def score(self, text: str, candidates: list[str], *, between_documents: bool = True) -> np.ndarray:
        """Probabilities [len(candidates), num_relations] of each relation for the pair (text, candidate).

        Candidates are other documents than the text's, so by default relations whose B always comes from
        A's own document (contiguous) get 0 and the others share the probability
        (`between_documents=False`: the head's softmax over every relation)."""
        out = np.zeros((len(candidates), len(self.relations)), dtype=np.float32)
        # Similar lengths share a batch, so little of each forward is padding.
        order = np.argsort([len(c) for c in candidates], kind="stable")
        for b0 in range(0, len(order), self.batch_size):
            chunk = order[b0 : b0 + self.batch_size]
            batch = self.tokenizer(
                [text] * len(chunk),
                [candidates[i] for i in chunk],
                truncation="longest_first",
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
                return_token_type_ids=True,
            )
            batch = {k: v.to(self.device) for k, v in batch.items()}
            probs = drp_probabilities(
                self.model,
                batch["input_ids"],
                batch["attention_mask"],
                batch["token_type_ids"],
                between_documents=between_documents,
            )
            out[chunk] = probs.numpy()
        return out

    def rank(
        self, text: str, candidates: list[str], relation: str = LINKED, top: int | None = None
    ) -> list[tuple[int, float]]:
        """(candidate index, probability of `relation`), most probable first; the first `top` only."""
        column = self.relation_index(relation)  # before any forward: a typo fails at once
        if top is not None and top < 0:
            raise PipelineError(f"top={top}: ask for a positive number of candidates (or all)")
        probs = self.score(text, candidates)[:, column] if candidates else np.zeros(0, dtype=np.float32)
        order = np.argsort(-probs, kind="stable")  # equal probabilities keep the file's order
        if top is not None:
            order = order[:top]
        return [(int(i), float(probs[i])) for i in order]


# ----------------------------------------------------------------------------------------------
# Candidate files of `linkbert score`


@dataclass(frozen=True)
class Candidate:
    text: str
    title: str | None = None

    @property
    def label(self) -> str:
        """What a ranking prints: the title, or the text's first 80 characters on one line."""
        if self.title:
            return self.title
        flat = " ".join(self.text.split())
        return flat if len(flat) <= 80 else flat[:79] + "…"


def read_candidates(path: str | Path) -> list[Candidate]:
    """One candidate text per line, or JSONL lines `{"title": ..., "text": ...}` (title optional); blank
    lines are skipped. The file is JSONL when its first non-blank line starts with `{`."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise PipelineError(f"--candidates {path}: cannot read it ({e.strerror or e})") from e
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        raise PipelineError(f"--candidates {path} has no candidates: write one text per line, or JSONL")
    if not numbered[0][1].lstrip().startswith("{"):
        return [Candidate(line.strip()) for _, line in numbered]
    out = []
    for n, line in numbered:
        try:
            record = json.loads(line)
        except ValueError as e:
            raise PipelineError(
                f"--candidates {path} line {n} is not JSON ({e}); a JSONL file needs one "
                '{"title": ..., "text": ...} object per line'
            ) from e
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise PipelineError(
                f'--candidates {path} line {n} has no "text" string; write {{"title": ..., "text": ...}}'
            )
        title = record.get("title")
        out.append(Candidate(record["text"], None if title is None else str(title)))
    return out


def format_ranking(ranking: list[tuple[int, float]], candidates: list[Candidate], relation: str) -> str:
    lines = [f"{'rank':>4}  {'p(' + relation + ')':>12}  candidate"]
    for position, (i, prob) in enumerate(ranking, 1):
        lines.append(f"{position:>4}  {prob:>12.4f}  {candidates[i].label}")
    return "\n".join(lines)


def ranking_json(ranking: list[tuple[int, float]], candidates: list[Candidate], relation: str) -> str:
    rows = [
        {
            "rank": position,
            "index": i,
            "relation": relation,
            "probability": prob,
            "title": candidates[i].title,
            "text": candidates[i].text,
        }
        for position, (i, prob) in enumerate(ranking, 1)
    ]
    return json.dumps(rows, ensure_ascii=False, indent=2)


__all__ = [
    "Candidate",
    "DocumentScorer",
    "check_export_folder",
    "drp_probabilities",
    "drp_relations",
    "format_ranking",
    "load_export_model",
    "ranking_json",
    "read_candidates",
]
