"""Templates whose first arguments are article titles (`{{main|X}}`, `{{see also|X}}`): the cleaner
turns their targets into links of kind `template` (`corpus.hatnote_templates`, these by default)."""

HATNOTE_TEMPLATES: tuple[str, ...] = (
    "main",
    "main article",
    "see also",
    "further",
    "further information",
    "details",
    "for",
    "about",
    "redirect",
    "other uses",
)
