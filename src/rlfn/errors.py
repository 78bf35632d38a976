"""Errors a user can cause. The CLI prints their message as one line; nothing here is a bug."""


class RLFNError(Exception):
    """Base class: a problem with the user's input, configuration or environment."""


class UnknownModelError(RLFNError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CheckpointMismatchError(RLFNError):
    """A checkpoint that is not the model (variant, scale) that was asked for, or no RLFN at all."""


class CheckpointError(RLFNError):
    """A checkpoint file that cannot be read."""


class ImageError(RLFNError):
    """A file that is not a readable image, or an image that cannot be written."""


class VideoError(ImageError):
    """A file that is not a readable video, or a video that cannot be encoded as asked."""


class ConfigError(RLFNError):
    """A training or benchmark configuration that is invalid."""


class DeviceError(RLFNError):
    """A device or precision that this machine cannot provide."""


class DownloadError(RLFNError):
    """Weights that could not be fetched or verified."""


class WriteError(RLFNError):
    """An output file that cannot be written, or that exists and may not be replaced."""


class TrainingDivergedError(RLFNError, FloatingPointError):
    """The training loss became infinite or NaN (the learning rate is too high for this run)."""
