"""The one exception type a user ever sees as a message instead of a traceback."""


class PipelineError(Exception):
    """A problem with the user's input, config or environment.

    The message names what is wrong (file, byte offset, page id, step) and what to do about it.
    The command line prints it on one line and exits with status 2; anything else is a bug and
    keeps its traceback.
    """


class ConfigError(PipelineError):
    """An invalid config file or override: unknown key, wrong type, bad value."""
