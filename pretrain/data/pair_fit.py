"""Does `[CLS] A [SEP] B [SEP]` fit `data.max_seq_len` for the corpus's segments?

`segments.max_tokens` (the corpus) and `data.max_seq_len` (the run) are set in different configs. When
two of the longest segments plus the 3 specials do not fit, the sampler truncates the pair
longest-first (`pretrain.data.sampler.truncate_longest_first_array`: tokens come off the end of the longer
segment, the pair segment on ties), as Hugging Face's `longest_first` does. That is the documented
rule; this module makes it visible, once, at the start of a run and in `linkbert preflight`.
"""

from __future__ import annotations

import numpy as np

SPECIALS = 3  # [CLS] A [SEP] B [SEP]


def pair_fit_warning(segment_offsets: np.ndarray, max_tokens: int | None, max_seq_len: int) -> str | None:
    """A one-paragraph warning when some pair of segments must be truncated, else None.

    `segment_offsets`: the corpus's int64 offsets [S+1]; `max_tokens`: the segments manifest's bound
    (None for corpora that do not record it).
    """
    lengths = np.diff(np.asarray(segment_offsets))
    longest = int(lengths.max()) if len(lengths) else 0
    budget = max_seq_len - SPECIALS
    if 2 * longest <= budget:
        return None
    half = budget // 2
    longer = int(np.count_nonzero(lengths > half))
    bound = longest if max_tokens is None else max(int(max_tokens), longest)
    source = f"segments.max_tokens={max_tokens}" if max_tokens is not None else "no recorded max_tokens"
    return (
        f"segments of up to {longest} tokens ({source}) and data.max_seq_len={max_seq_len}: two segments "
        f"need up to {2 * longest + SPECIALS} positions. {longer:,} of {len(lengths):,} segments "
        f"({longer / len(lengths):.1%}) are longer than {half} tokens; a pair longer than {budget} tokens "
        f"is truncated longest-first (tokens come off the end of the longer segment). To keep pairs whole, "
        f"build the corpus with segments.max_tokens={half} or set data.max_seq_len={2 * bound + SPECIALS}"
    )


__all__ = ["SPECIALS", "pair_fit_warning"]
