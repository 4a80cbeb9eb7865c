"""Pretraining's data: the memory-mapped corpus, the pair sampler, masking, micro batches, the held-out split."""
