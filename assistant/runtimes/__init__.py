"""LLM engines behind one small protocol (``base.Engine``); heavy packages are imported lazily."""
