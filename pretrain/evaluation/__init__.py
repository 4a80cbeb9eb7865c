"""Held-out evaluation: MLM and DRP metrics, zero-training baselines, retrieval, document scoring, reports and plots."""
