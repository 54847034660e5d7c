"""Labelled speech clips made with the real voices (Piper, espeak-ng), for the tests and the voice
benchmark: "okay nabu" + a request, wake-free talk, with the times of each part known exactly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import SAMPLE_RATE
from .audio import to_mono_16k
from .tts import Synthesizer

REQUESTS = ("What is the capital of France?", "How far away is the moon?", "Tell me a joke about cats.",
            "What is the boiling point of water?", "Who wrote Romeo and Juliet?", "How many legs does a spider have?",
            "What color is the sky?", "Turn on the kitchen lights.")
# Everyday talk with no wake word in it.
WAKE_FREE = (
    "The weather is nice today, so let us go for a walk in the park.",
    "My neighbour bought a new car last week and it is bright blue.",
    "Could you pass me the salt and the pepper, please?",
    "We are out of milk, so add it to the shopping list.",
    "The train to the city leaves at half past seven in the morning.",
    "I think the movie was too long, but the music was wonderful.",
    "Did you remember to water the plants before you left?",
    "The cat knocked a glass off the table again.",
    "A cab will pick us up at noon outside the hotel.",
    "No, I have not seen the keys since yesterday.",
    "Let's book a table for four at the Italian place.",
    "The kids are playing football in the garden.",
    "Can you believe how fast this year has gone?",
    "Nobody knows about the surprise party yet.",
)
# Near misses: phrases that sound like "okay nabu" at the start. A stress test, reported apart.
NEAR_MISS = (
    "Okay, I will call you back after the meeting.",
    "Okay now, everybody sit down and open your books.",
    "Okay, no problem, I will bring a bottle of wine.",
    "Hey, Nate, have you seen my umbrella?",
)


@dataclass(frozen=True)
class Clip:
    samples: np.ndarray  # 16 kHz mono int16
    wake_end: float | None  # where the wake phrase ends
    request_start: float | None
    request_end: float | None
    request: str | None

    def to_wav(self, path) -> None:
        import soundfile

        soundfile.write(str(path), self.samples, SAMPLE_RATE, subtype="PCM_16")


def speech(synthesizer: Synthesizer, text: str, speed: float = 1.0) -> np.ndarray:
    pieces = list(synthesizer.synthesize(text, speed))
    return to_mono_16k(np.concatenate(pieces), synthesizer.sample_rate)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * SAMPLE_RATE)), np.int16)


def wake_and_request(synthesizer: Synthesizer, request: str, *, wake: str = "Okay nabu.", lead_s: float = 0.5,
                     gap_s: float = 0.3, tail_s: float = 1.5) -> Clip:
    wake_audio, request_audio = speech(synthesizer, wake), speech(synthesizer, request)
    parts = [silence(lead_s), wake_audio, silence(gap_s), request_audio, silence(tail_s)]
    wake_end = lead_s + len(wake_audio) / SAMPLE_RATE
    start = wake_end + gap_s
    return Clip(np.concatenate(parts), round(wake_end, 3), round(start, 3),
                round(start + len(request_audio) / SAMPLE_RATE, 3), request)


def wake_free(synthesizer: Synthesizer, sentences=WAKE_FREE, gap_s: float = 0.6, speed: float = 1.0) -> Clip:
    parts = []
    for text in sentences:
        parts += [speech(synthesizer, text, speed), silence(gap_s)]
    return Clip(np.concatenate(parts), None, None, None, None)
