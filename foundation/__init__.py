"""The ground floor: errors, atomic writes, paths, config machinery, executors and the stage lifecycle. Imports nothing else of the project."""
