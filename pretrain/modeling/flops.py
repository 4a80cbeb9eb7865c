"""Model FLOPs per token and the peak FLOP/s of the GPU, for model FLOPs utilization (MFU).

MFU = achieved model FLOP/s / peak dense bf16 FLOP/s of the device. Achieved FLOPs count only the
model's arithmetic (no recomputation), the convention of PaLM and Megatron, so MFU is comparable
across implementations.
"""

from __future__ import annotations

# Dense (no sparsity) bf16/fp16 tensor-core peaks from the vendor datasheets, in FLOP/s. The first
# substring of the device name that matches wins, so more specific names come first.
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("GB200", 2.5e15),
    ("B200", 2.25e15),
    ("GH200", 989e12),
    ("H200", 989e12),
    ("H100 NVL", 835e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),  # SXM
    ("H800", 989e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("RTX 6000 Ada", 364e12),
    ("A6000", 155e12),
    ("A40", 150e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("V100", 125e12),  # fp16: V100 has no bf16
    ("MI300X", 1307e12),
    ("MI250X", 383e12),
)


def peak_flops(device_name: str) -> float | None:
    """Peak dense bf16 FLOP/s of a GPU named like `torch.cuda.get_device_name()`; None if unknown."""
    for key, value in PEAK_BF16_FLOPS:
        if key.lower() in device_name.lower():
            return value
    return None


def flops_per_token(
    *,
    hidden_size: int,
    num_layers: int,
    intermediate_size: int,
    vocab_size: int,
    seq_len: int,
    mlm_probability: float = 0.15,
) -> float:
    """Training FLOPs (forward + backward = 3x forward) per input token of a BERT encoder with our heads.

    Per layer and token the forward pass does 2 FLOPs per multiply-add of the Q, K, V, O projections
    (4 h^2), the MLP (2 h i) and attention itself (scores and weighted sum, 2 L h). The MLM head runs
    only on the masked fraction of tokens (our model gathers them before the vocab projection).
    """
    h, i = hidden_size, intermediate_size
    encoder = num_layers * (2 * (4 * h * h + 2 * h * i) + 4 * seq_len * h)
    mlm_head = mlm_probability * 2 * (h * h + h * vocab_size)
    return 3.0 * (encoder + mlm_head)


def mfu(
    tokens_per_second: float, flops_per_tok: float, peak: float | None, num_devices: int = 1
) -> float | None:
    if not peak:
        return None
    return tokens_per_second * flops_per_tok / (peak * num_devices)
