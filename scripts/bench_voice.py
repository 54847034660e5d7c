#!/usr/bin/env python
"""Voice benchmark on the embedded defaults (okay_nabu, silero VAD, Whisper tiny.en, SmolLM2,
Piper joe), with speech made by Piper and espeak-ng.

Each request clip ("okay nabu" + a question) is played to the voice loop at the speed of sound,
as from a microphone, so the endpoint's silence wait and Whisper's early start happen as they do
live. Measured from the moment the speech really ends (known from the clip):
end of speech -> transcript, -> first LLM token, -> first audio sample handed to the speaker
(median, p90). Also: Whisper's real-time factor, WER, the wake word's CPU cost per second of
audio, and false wakes per hour on wake-free talk.

    .venv/bin/python scripts/bench_voice.py [--rounds 2] [--false-wake-hours 1.0] [--threads 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.speech import SAMPLE_RATE  # noqa: E402
from assistant.speech.audio import frames_of  # noqa: E402
from assistant.speech.clips import NEAR_MISS, REQUESTS, WAKE_FREE, wake_and_request, wake_free  # noqa: E402


class PacedClip:
    """A clip played in real time; remembers when its first frame went out."""

    realtime = True

    def __init__(self, samples: np.ndarray) -> None:
        self.samples, self.t0 = samples, None

    def frames(self):
        for i, frame in enumerate(frames_of(self.samples)):
            if self.t0 is None:
                self.t0 = time.perf_counter()
            delay = self.t0 + (i + 1) * len(frame) / SAMPLE_RATE - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            yield frame

    def close(self) -> None:
        pass


class TimingSink:
    """A speaker that notes when the first sample of a reply reaches it."""

    def __init__(self) -> None:
        self.first: float | None = None

    def play(self, samples, sample_rate) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def stop(self) -> None:
        pass

    def busy(self) -> bool:
        return False

    def close(self) -> None:
        pass


def words(text: str) -> list[str]:
    return "".join(c for c in text.lower() if c.isalnum() or c.isspace() or c == "'").split()


def edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _shuffled(sentences: list[np.ndarray], hours: float) -> tuple[np.ndarray, float, int]:
    """Takes picked at random, at a random level, half with noise, with pauses, up to ``hours``."""
    rng, noise = random.Random(0), np.random.default_rng(0)
    parts, total, target = [], 0, hours * 3600 * SAMPLE_RATE
    while total < target:
        take = sentences[rng.randrange(len(sentences))].astype(np.float32) * rng.choice((0.3, 0.6, 1.0))
        if rng.random() < 0.5:
            take = take + noise.normal(0, 300, len(take)).astype(np.float32)
        parts += [np.clip(take, -32768, 32767).astype(np.int16),
                  np.zeros(int(rng.uniform(0.2, 1.5) * SAMPLE_RATE), np.int16)]
        total += len(parts[-2]) + len(parts[-1])
    return np.concatenate(parts), sum(len(s) for s in sentences) / SAMPLE_RATE, len(parts) // 2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2, help="times each request clip is played")
    ap.add_argument("--false-wake-hours", type=float, default=1.0, help="hours of wake-free audio to stream")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--silence", type=float, default=0.7, help="endpoint silence, seconds")
    args = ap.parse_args()

    from assistant.listen import ListenSettings, load_engine, loop_settings, open_front_end
    from assistant.speech.brain import Conversation, EngineBrain, ReplySettings
    from assistant.speech.loop import VoiceLoop
    from assistant.speech.stt import open_transcriber
    from assistant.speech.tts import EspeakSynthesizer, open_synthesizer

    settings = ListenSettings(temperature=0.0, threads=args.threads, silence_s=args.silence)
    print("loading the embedded defaults...", flush=True)
    engine = load_engine(settings)
    transcriber = open_transcriber(threads=args.threads)
    voice = open_synthesizer()
    print(f"LLM {engine.model_id}, STT {transcriber.model_id} ({transcriber.compute_type}), voice {voice.voice_id}, "
          f"{args.threads} threads, endpoint silence {args.silence} s")

    clips = [wake_and_request(voice, text) for text in REQUESTS]
    to_transcript, to_token, to_audio, wer_errors, wer_words = [], [], [], 0, 0
    missed = 0
    for round_ in range(args.rounds):
        for clip in clips:
            events: list[tuple[float, dict]] = []
            source, sink = PacedClip(clip.samples), TimingSink()
            detector, vad = open_front_end(settings, coral_found=False)
            loop = VoiceLoop(source, detector, vad, transcriber, EngineBrain(engine, ReplySettings(temperature=0)),
                             voice, sink, lambda e: events.append((time.perf_counter(), e)),
                             loop_settings(settings), Conversation())
            loop.run()
            by = {e["event"]: (t, e) for t, e in events}
            if "transcript" not in by or "reply" not in by:
                missed += 1
                print(f"  missed: {clip.request!r}: {[e for _, e in events]}")
                continue
            spoken_end = source.t0 + clip.request_end
            decided = by["speech_end"][0]
            to_transcript.append(by["transcript"][0] - spoken_end)
            reply = by["reply"][1]
            to_token.append(decided + reply["first_token_s"] - spoken_end)
            to_audio.append(sink.first - spoken_end)
            heard = words(by["transcript"][1]["text"])
            wer_errors += edit_distance(words(clip.request), heard)
            wer_words += len(words(clip.request))
            if round_ == 0:
                print(f"  {clip.request!r} -> {by['transcript'][1]['text']!r} -> {reply['text'][:60]!r}")

    def row(name: str, values: list[float]) -> None:
        print(f"{name:<34} median {statistics.median(values):6.3f} s   p90 {pct(values, 0.9):6.3f} s   (n={len(values)})")

    print("\nlatency from the end of speech (live pacing; includes the endpoint's silence wait):")
    row("end of speech -> transcript", to_transcript)
    row("end of speech -> first LLM token", to_token)
    row("end of speech -> first audio sample", to_audio)
    print(f"goal: first audio under 1.5 s: {'met' if statistics.median(to_audio) < 1.5 else 'NOT met'} "
          f"(median); requests missed: {missed}")
    print(f"WER on {wer_words} words: {wer_errors / max(1, wer_words):.3f}")

    # Whisper real-time factor, per request clip and on 30 s of speech
    rtf = []
    for clip in clips:
        speech = clip.samples[int(clip.request_start * SAMPLE_RATE):int(clip.request_end * SAMPLE_RATE)]
        start = time.perf_counter()
        transcriber.transcribe(speech)
        rtf.append((time.perf_counter() - start) / (len(speech) / SAMPLE_RATE))
    long_speech = wake_free(voice, WAKE_FREE[:8]).samples[:30 * SAMPLE_RATE]
    start = time.perf_counter()
    transcriber.transcribe(long_speech)
    long_rtf = (time.perf_counter() - start) / (len(long_speech) / SAMPLE_RATE)
    print(f"Whisper real-time factor: median {statistics.median(rtf):.3f} on {len(rtf)} requests of "
          f"{statistics.median([c.request_end - c.request_start for c in clips]):.1f} s; {long_rtf:.3f} on 30 s")

    # false wakes: ordinary talk, and apart from it near misses ("Okay now, ..."), each spoken by
    # Piper at three speeds and four espeak-ng voices, at three levels, half with noise, shuffled
    # and repeated to the length asked for
    print("\nmaking wake-free audio...", flush=True)
    for label, texts in (("ordinary talk", WAKE_FREE), ("near misses", NEAR_MISS)):
        detector, _ = open_front_end(settings, coral_found=False)
        sentences = []
        for speed in (0.9, 1.0, 1.2):
            sentences += [wake_free(voice, [s], gap_s=0.0, speed=speed).samples for s in texts]
        for name in ("en-us", "en-gb", "en-us+f3", "en-us+m7"):
            espeak = EspeakSynthesizer(name)
            sentences += [wake_free(espeak, [s], gap_s=0.0).samples for s in texts]
        stream, unique_s, played = _shuffled(sentences, args.false_wake_hours)
        seconds = len(stream) / SAMPLE_RATE
        start_cpu = time.process_time()
        wakes = [d for d in (detector.process(f) for f in frames_of(stream)) if d is not None]
        cpu = time.process_time() - start_cpu
        print(f"{label}: {len(wakes)} false wakes in {seconds / 3600:.2f} h = {len(wakes) / (seconds / 3600):.2f} "
              f"per hour{' (goal under 0.5)' if texts is WAKE_FREE else ' (stress test)'}; {played} utterances "
              f"played from {len(sentences)} takes ({unique_s / 60:.1f} min unique), "
              f"{len(wakes) / played:.1%} of them woke it")
        print(f"  wake word ({detector.engine.engine}) CPU: {cpu / seconds * 1000:.2f} ms per second of audio "
              f"({cpu / seconds * 100:.2f}% of one core)")
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
