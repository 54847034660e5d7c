"""The errors a user can cause. Each carries a message that says what happened and what to do.

The CLI prints ``str(error)`` and exits with ``exit_code``; the server maps each class to an
OpenAI-shaped error body (one mapping, in ``server/``).
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every user-facing error."""

    exit_code = 1
    http_status = 400
    error_type = "invalid_request_error"


class InvalidInputError(AssistantError):
    """A file, flag or document the user gave cannot be used."""

    exit_code = 2


class CatalogError(AssistantError):
    """A model catalog entry is missing or malformed."""

    http_status = 404
    error_type = "not_found_error"


class ModelFileError(AssistantError):
    """A model file is missing, truncated or not what it claims to be."""

    http_status = 500
    error_type = "server_error"


class ModelDoesNotFitError(AssistantError):
    """The memory estimate of a model exceeds the budget; carries the numbers."""

    exit_code = 3
    http_status = 507
    error_type = "insufficient_memory"

    def __init__(self, message: str, *, needed_bytes: int, budget_bytes: int) -> None:
        super().__init__(message)
        self.needed_bytes = needed_bytes
        self.budget_bytes = budget_bytes


class NothingFitsError(AssistantError):
    """No catalog model fits the device and the requirements."""

    exit_code = 3


class ContextLengthExceededError(AssistantError):
    """The prompt (plus the room asked for the reply) does not fit the context."""

    error_type = "invalid_request_error"
    code = "context_length_exceeded"

    def __init__(self, message: str, *, prompt_tokens: int, context_length: int) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.context_length = context_length


class QueueFullError(AssistantError):
    """More requests are waiting than the server accepts; the client should retry later."""

    http_status = 429
    error_type = "rate_limit_error"
    code = "queue_full"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class EngineClosedError(AssistantError):
    http_status = 503
    error_type = "server_error"


class AudioError(InvalidInputError):
    """Audio the user gave cannot be decoded, or holds no sound."""


class DeviceError(AssistantError):
    """A device the command needs (microphone, speaker, camera) is missing or stopped."""

    exit_code = 4
    http_status = 503
    error_type = "server_error"


class AudioDeviceError(DeviceError):
    """No microphone or speaker, or the audio library is missing."""


class CameraError(DeviceError):
    """No camera at that number, an unreadable video file, or a camera that stopped."""


class MissingDependencyError(AssistantError):
    """A feature needs a package (or a system library) that is not installed; says what to install."""

    exit_code = 5
    http_status = 501
    error_type = "server_error"
