"""The Hugging Face export folder: weights, tokenizer, DRP head and the model card."""
