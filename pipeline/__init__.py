"""Command line, typed configuration and the stage runner of linkbert-pipeline."""
