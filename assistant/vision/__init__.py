"""The vision stage: images from chat requests or files, read by local detectors (OCR so far),
and the bridge that turns what they found into sentences a text-only LLM can use."""
