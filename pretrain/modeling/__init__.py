"""The LinkBERT model (MLM + DRP heads on a BERT encoder) and its FLOP count."""
