"""One exception base for the whole package.

The core raises these domain errors; the CLI turns every `PlotterError` into a one-line message and a
non-zero exit (see `plotter.cli`). Never raise bare `Exception`/`assert` for bad input.
"""


class PlotterError(Exception):
    """Base of every error the user can cause (bad input, missing device, ...)."""


class SketchFormatError(PlotterError):
    """A sketch file is unreadable, malformed or of an unknown format."""


class ProfileError(PlotterError):
    """A firmware profile is missing or has an invalid field (the message names the field)."""


class LayoutError(PlotterError):
    """Geometry does not fit the paper or the machine bed."""


class GcodeError(PlotterError):
    """G-code that the firmware would refuse (line too long, unsupported word)."""


class CheckpointError(PlotterError):
    """A model checkpoint is missing, corrupt, truncated or not ours."""


class UnknownClassError(PlotterError):
    """A sketch class a model or dataset does not know; the message suggests close names."""


class DataError(PlotterError):
    """Training or evaluation data is missing or malformed."""


class DeviceError(PlotterError):
    """A serial port or simulated machine is missing, busy or vanished."""


class GrblError(PlotterError):
    """GRBL answered error:N / ALARM:N or reset during a job."""


class JobError(PlotterError):
    """A daemon job is malformed or in a state that does not allow the request."""


class DaemonError(PlotterError):
    """The plotter daemon cannot start its control API, or no daemon answers on its socket."""


class InputLimitError(PlotterError):
    """Input from outside (a request, a YAML file, a drawing) is larger or deeper than we accept."""
