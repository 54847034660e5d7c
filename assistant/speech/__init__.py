"""The voice pipeline: audio in and out, wake word, VAD endpointing, Whisper, Piper, and the loop
that joins them to an LLM. Every heavy package is imported inside the function that needs it."""

SAMPLE_RATE = 16_000  # what the wake word, the VAD and Whisper take
FRAME_SAMPLES = 160  # 10 ms: the wake word's step
