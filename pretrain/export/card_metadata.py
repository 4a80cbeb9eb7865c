"""What the model card says about provenance: Hugging Face hub metadata and the run's resolved config.

The run's config.yaml only holds what pretraining reads: on a warm start its `model` section keeps the
defaults (the sizes come from the base model), and the corpus, graph and segments sections were set
when the corpus was built, not by the run. The card's configuration therefore overlays the exported
model's real sizes and the corpus's own recorded configs, so it describes what was actually trained.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from formats import documents
from formats import graph as graph_format
from formats import segments as segments_format
from formats.version import peek_json
from foundation.config import to_dict
from foundation.paths import resolve_path
from pretrain.config import PretrainConfig

DEFAULT_LICENSE = "apache-2.0"  # the project's license, for models trained from scratch
MODEL_KEYS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
)
_HUB_ID = re.compile(r"""(?:from_pretrained|SentenceTransformer)\(\s*['"]([\w.-]+/[\w.-]+)['"]""")
_WIKI_LANGUAGE = re.compile(r"^([a-z]{2,3}(?:[-_][a-z]+)?)wiki")


def _front_matter(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    if not text.startswith("---"):
        return {}
    try:
        data = yaml.safe_load(text.split("---", 2)[1])
    except (yaml.YAMLError, IndexError):
        return {}
    return data if isinstance(data, dict) else {}


def base_model(init_from: str | None) -> tuple[str | None, str | None]:
    """The hub id and license of a warm start's folder, as far as its README and config say."""
    if not init_from:
        return None, None
    try:
        folder = resolve_path(init_from)
    except Exception:  # an uninstalled package: the card just says less
        return None, None
    readme = folder / "README.md"
    meta = _front_matter(readme)
    hub_id = None
    try:
        match = _HUB_ID.search(readme.read_text(encoding="utf-8"))
        hub_id = match.group(1) if match else None
    except OSError:
        pass
    if hub_id is None:
        name = peek_json(folder / "config.json").get("_name_or_path", "")
        hub_id = name if isinstance(name, str) and name.count("/") == 1 and not Path(name).exists() else None
    license_ = meta.get("license") if isinstance(meta.get("license"), str) else None
    return hub_id, license_


def corpus_languages(corpus_dir: Path) -> list[str]:
    """Languages of the dumps a corpus was extracted from (`enwiki-...` -> en)."""
    inputs = documents.peek_manifest(corpus_dir).get("inputs") or []
    found = []
    for item in inputs:
        name = Path(str(item.get("path", "")) if isinstance(item, dict) else str(item)).name
        match = _WIKI_LANGUAGE.match(name)
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def hub_metadata(cfg: PretrainConfig, corpus_dir: Path) -> dict[str, Any]:
    hub_id, license_ = base_model(cfg.model.init_from)
    meta: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": "fill-mask",
        "license": license_ or DEFAULT_LICENSE,
    }
    languages = corpus_languages(corpus_dir)
    if languages:
        meta["language"] = languages
    if hub_id:
        meta["base_model"] = hub_id
    meta["datasets"] = ["wikimedia/wikipedia"]
    meta["tags"] = [
        "bert",
        "linkbert",
        "fill-mask",
        "masked-language-modeling",
        "document-relation-prediction",
    ]
    return meta


def front_matter(cfg: PretrainConfig, corpus_dir: Path) -> list[str]:
    return ["---", yaml.safe_dump(hub_metadata(cfg, corpus_dir), sort_keys=False).rstrip(), "---"]


def resolved_config(cfg: PretrainConfig, model_config: Any, corpus_dir: Path) -> dict[str, Any]:
    """The run's config with the exported model's sizes and the corpus's recorded sections."""
    data = to_dict(cfg)
    for key in MODEL_KEYS:
        if hasattr(model_config, key):
            data["model"][key] = getattr(model_config, key)
    for section, manifest in (
        ("corpus", documents.peek_manifest(corpus_dir)),
        ("graph", graph_format.peek_manifest(corpus_dir)),
        ("segments", segments_format.peek_manifest(corpus_dir)),
    ):
        recorded = manifest.get("config")
        if isinstance(recorded, dict):
            data[section] = recorded
    return data


def resolved_config_yaml(cfg: PretrainConfig, model_config: Any, corpus_dir: Path) -> str:
    return yaml.safe_dump(resolved_config(cfg, model_config, corpus_dir), sort_keys=False).rstrip()


__all__ = [
    "base_model",
    "corpus_languages",
    "front_matter",
    "hub_metadata",
    "resolved_config",
    "resolved_config_yaml",
]
