"""Errors a user can act on: what was wrong and what to do about it."""


class PoseCloudError(Exception):
    """Base class for errors caused by user input (files, configs, arguments).

    The message must say what was wrong and what to do; the CLI prints it without a traceback.
    """


class LabelFormatError(PoseCloudError):
    """A label file is malformed or does not match the project."""


class VideoError(PoseCloudError):
    """A video cannot be opened, is corrupt, empty or unsupported."""


class ConfigError(PoseCloudError):
    """A project or training config is invalid."""
