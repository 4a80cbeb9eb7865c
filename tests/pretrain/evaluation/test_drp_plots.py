"""The held-out DRP pictures: which files are written from which evaluation rows, and that they are PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from pretrain.evaluation.drp_plots import (
    CONFUSION_FILE,
    PER_CLASS_FILE,
    plot_confusion,
    plot_per_class,
    write_drp_plots,
)

THREE = ["contiguous", "random", "linked"]
TWO = ["contiguous", "random"]


def eval_row(step: int, names: list[str] = THREE, **extra: Any) -> dict[str, Any]:
    """A held-out evaluation row as the trainer logs it: 10 pairs per relation, 6 right each."""
    k = len(names)
    confusion = [[6 if c == r else 4 // (k - 1) for c in range(k)] for r in range(k)]
    row = {
        "step": step,
        "split": "eval",
        "mlm_loss": 2.0,
        "drp_acc": 0.6,
        "drp_classes": names,
        "confusion": confusion,
        "drp_chance_acc": 1 / k,
        "drp_majority_acc": 1 / k,
        **{f"drp_acc_{n}": 0.6 for n in names},
    }
    row.update(extra)
    return row


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG that decodes completely."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        return image.size


def test_both_pictures_are_written_from_evaluation_rows(tmp_path: Path) -> None:
    """Rows with DRP metrics give the per-relation curve (700x400) and the confusion matrix (680x570)."""
    rows = [
        eval_row(10, drp_acc=0.4, drp_acc_linked=None),
        eval_row(20, baseline_cosine_acc=0.5, **{f"baseline_cosine_acc_{n}": 0.5 for n in THREE}),
    ]
    folder = tmp_path / "plots" / "nested"
    assert write_drp_plots(rows, folder) == [PER_CLASS_FILE, CONFUSION_FILE]
    assert sorted(p.name for p in folder.iterdir()) == sorted([PER_CLASS_FILE, CONFUSION_FILE])
    assert png_size(folder / PER_CLASS_FILE) == (700, 400)
    assert png_size(folder / CONFUSION_FILE) == (680, 570)


def test_nothing_is_drawn_without_drp_metrics(tmp_path: Path) -> None:
    """No rows, or rows with only MLM metrics, write no file (the folder is still made)."""
    assert write_drp_plots([], tmp_path / "empty") == []
    assert list((tmp_path / "empty").iterdir()) == []
    mlm_only = [{"step": 5, "split": "eval", "mlm_loss": 2.0}, {"split": "eval", "drp_acc": 0.5}]
    assert write_drp_plots(mlm_only, tmp_path / "mlm") == []
    assert list((tmp_path / "mlm").iterdir()) == []


def test_the_confusion_matrix_is_the_last_step_and_the_last_row_of_a_step(tmp_path: Path) -> None:
    """Rows are ordered by step, and a step logged twice (a resumed run) keeps its later row: the
    picture's size shows how many relations the chosen row has."""
    replayed = [eval_row(20, TWO), eval_row(10, THREE), eval_row(20, THREE)]
    write_drp_plots(replayed, tmp_path / "replayed")
    assert png_size(tmp_path / "replayed" / CONFUSION_FILE) == (680, 570)
    out_of_order = [eval_row(30, TWO), eval_row(10, THREE)]
    write_drp_plots(out_of_order, tmp_path / "ordered")
    assert png_size(tmp_path / "ordered" / CONFUSION_FILE) == (520, 430)


def test_per_class_needs_an_overall_accuracy(tmp_path: Path) -> None:
    """Rows whose `drp_acc` is missing or null are left out; none left means no file."""
    path = tmp_path / "per_class.png"
    assert not plot_per_class([eval_row(1, drp_acc=None), eval_row(2, drp_classes=[])], path)
    assert not path.exists()
    assert plot_per_class([eval_row(1, drp_acc=None), eval_row(2)], path)
    assert png_size(path) == (700, 400)


def test_confusion_needs_a_matrix_and_names(tmp_path: Path) -> None:
    """No row, an empty matrix or no relation names: no picture; a relation without pairs still draws."""
    path = tmp_path / "confusion.png"
    assert not plot_confusion(None, path)
    assert not plot_confusion(eval_row(1, confusion=[]), path)
    assert not plot_confusion(eval_row(1, drp_classes=None), path)
    assert not path.exists()
    assert plot_confusion(eval_row(1, confusion=[[5, 1, 0], [0, 0, 0], [2, 2, 6]]), path)
    assert png_size(path) == (680, 570)
