"""Wikitext to clean text and links: the scanner, templates and their expansion, the fallback parser."""
