"""The project's own exception types: a user mistake becomes one clear message, not a deep traceback."""


class CganError(Exception):
    """A problem the user can fix (bad argument, missing data, bad checkpoint). The CLI prints it and exits 2."""


class DataError(CganError):
    """A dataset is missing, corrupt, or not what it claims to be."""


class CheckpointError(CganError):
    """A run folder, checkpoint or weights file is missing, truncated or foreign."""
