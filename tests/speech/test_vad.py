"""Endpointing: the pure state machine on probability sequences, and silero VAD on real speech."""

from __future__ import annotations

import numpy as np

from assistant.speech.audio import frames_of
from assistant.speech.vad import WINDOW, EndpointConfig, Endpointer, SileroVad

STEP = WINDOW / 16000


def run(probs, config=EndpointConfig()):
    endpointer = Endpointer(config)
    for i, p in enumerate(probs, 1):
        end = endpointer.update(i * STEP, p)
        if end is not None:
            return end
    return None


def windows(seconds: float) -> int:
    return int(round(seconds / STEP))


def test_silence_after_speech_ends_the_utterance():
    end = run([0.0] * windows(0.5) + [0.9] * windows(1.0) + [0.1] * windows(1.0))
    assert end.reason == "silence"
    assert abs(end.t - 1.5) < 2 * STEP and abs(end.speech_start - 0.5) < 2 * STEP


def test_a_short_pause_does_not_end_it():
    probs = [0.9] * windows(0.5) + [0.1] * windows(0.4) + [0.9] * windows(0.5) + [0.1] * windows(1.0)
    end = run(probs)
    assert end.reason == "silence" and abs(end.t - 1.4) < 2 * STEP


def test_nobody_speaks():
    end = run([0.1] * windows(6.0), EndpointConfig(no_speech_timeout_s=3.0))
    assert end.reason == "no_speech" and end.speech_start is None and abs(end.t - 3.0) < 2 * STEP


def test_blips_are_not_speech():
    probs = ([0.9] * 2 + [0.0] * 10) * 20  # 64 ms bursts
    end = run(probs, EndpointConfig(no_speech_timeout_s=5.0, min_speech_s=0.1))
    assert end.reason == "no_speech"


def test_endless_speech_is_cut():
    end = run([0.9] * windows(20.0), EndpointConfig(max_utterance_s=4.0))
    assert end.reason == "max_length" and abs(end.t - 4.0) < 2 * STEP


def test_silero_finds_the_speech_in_a_real_clip(france):
    from assistant.catalog import load_catalog
    from assistant.speech.assets import resolve

    clip, _ = france
    vad = SileroVad(resolve(load_catalog(), "vad", None)[1])
    probs = np.array([p for f in frames_of(clip.samples) for p in vad.process(f)])
    times = (np.arange(len(probs)) + 1) * STEP
    speech = probs >= 0.5
    assert speech[(times > clip.request_start + 0.3) & (times < clip.request_end - 0.3)].mean() > 0.8
    assert not speech[times < 0.4].any() and not speech[times > clip.request_end + 0.3].any()
    end = run(probs[times > clip.wake_end])
    assert end.reason == "silence"
    assert abs(clip.wake_end + end.t - clip.request_end) < 0.35
