"""The extract stage: the datatrove steps that scan one slice, and the launcher."""
