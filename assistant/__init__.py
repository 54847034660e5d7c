"""A private, on-device assistant: voice, an OpenAI-compatible API, and a picker that knows what fits."""

__version__ = "0.1.0"
