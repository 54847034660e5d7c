"""The OpenAI-compatible HTTP API. No model logic here: it calls the engine."""

from .app import create_app

__all__ = ["create_app"]
