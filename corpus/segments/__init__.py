"""The segments stage: tokenize documents and cut them into segments."""
