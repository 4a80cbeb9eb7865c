"""Input readers: Wikipedia XML dumps (plain, bz2, multistream), JSONL and Hugging Face datasets."""
