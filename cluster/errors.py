"""Errors shown to the user as one line (then exit code 2); importing this costs nothing."""


class ConfigError(ValueError):
    """A configuration problem, described in one line fit for the user."""


class UsageError(ValueError):
    """A command-line argument the command cannot use; the message is shown as is."""
