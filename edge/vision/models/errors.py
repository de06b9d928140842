"""The errors loading, checking and fetching models raise; each says what to do."""

from __future__ import annotations


class ModelError(Exception):
    """A model cannot be used; the message says which and why."""


class UnknownModel(ModelError):
    """The name is not in the manifest."""


class ModelMissing(ModelError):
    """The manifest lists the model, but its file is not on this device."""


class ChecksumMismatch(ModelError):
    """A model file's sha256 differs from the manifest's: damaged, truncated or replaced."""


class ModelLoadError(ModelError):
    """onnxruntime refused the file, or its inputs and outputs are not what the decoder needs."""


class ProviderUnavailable(ModelError):
    """An execution provider was asked for that this onnxruntime build does not have."""


class FetchError(ModelError):
    """A download failed: offline, an HTTP error, or the wrong bytes."""
