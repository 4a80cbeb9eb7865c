"""The top floor: the command line, the whole configuration tree, the corpus build, the ablations and the
run summary. It uses every stage; no stage imports it."""
