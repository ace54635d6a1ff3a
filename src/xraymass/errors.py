"""The errors a user acts on. The CLI prints each as one line and exits with its status."""


class XraymassError(Exception):
    """Base class: bad input the user can fix. `exit_status` is the process exit status."""

    exit_status = 1


class ConfigError(XraymassError):
    """A science or site config is invalid: names the file, the key and what is allowed."""

    exit_status = 2


class StoreError(XraymassError):
    """The run's Zarr store is missing, unreadable, or of another schema version."""


class InputError(XraymassError):
    """An input file or value (simulation files, a halo, a fold index) is missing or invalid."""


class NotBuiltError(XraymassError):
    """A stage that this version of xraymass does not provide yet."""

    exit_status = 3
