"""User-facing errors.

Library code raises these; only the CLIs print them (one line, no traceback) and choose the
exit code. The message must name the file or key at fault and say how to fix it.
"""


class UserError(Exception):
    """A problem with the user's input, files or settings (exit code 2)."""

    exit_code = 2


class ConfigError(UserError):
    """Invalid configuration file, key or value."""


class DataError(UserError):
    """Missing, malformed or inconsistent data files."""


class CheckpointError(UserError):
    """Missing, corrupted or incompatible model checkpoint."""


class TrainingError(UserError):
    """Training of an entity failed (e.g. a non-finite loss)."""


class OutputError(UserError):
    """An output file cannot be written (folder not writable, a file in the way, disk full)."""
