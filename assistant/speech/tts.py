"""Text to speech: Piper (the default voice), espeak-ng when no Piper voice is installed, and the
sentence splitter that lets speech start while the LLM is still writing."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from ..errors import InvalidInputError, MissingDependencyError, ModelFileError


class Synthesizer(Protocol):
    voice_id: str
    sample_rate: int

    def synthesize(self, text: str, speed: float = 1.0) -> Iterator[np.ndarray]:
        """int16 mono audio, one piece per sentence."""
        ...


class PiperSynthesizer:
    def __init__(self, path: Path, voice_id: str) -> None:
        try:
            from piper import PiperVoice
        except ImportError:
            raise MissingDependencyError("Piper voices need the package 'piper-tts'; install it with "
                                         "pip install 'assistant[speech]'") from None
        config = Path(f"{path}.json")
        if not config.is_file():
            raise ModelFileError(f"the Piper voice {path} has no {config.name} beside it; reinstall the voice")
        try:
            self._voice = PiperVoice.load(str(path), config_path=str(config))
        except Exception as exc:  # onnxruntime raises its own types for a damaged file
            raise ModelFileError(f"cannot load the Piper voice {path} ({exc}); reinstall it") from None
        self.voice_id, self.sample_rate = voice_id, self._voice.config.sample_rate
        self._lock = threading.Lock()  # one synthesis at a time per loaded voice

    def synthesize(self, text: str, speed: float = 1.0) -> Iterator[np.ndarray]:
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / speed)
        with self._lock:
            chunks = [c.audio_int16_array for c in self._voice.synthesize(text, syn_config=config)]
        yield from chunks


class EspeakSynthesizer:
    """espeak-ng through its command line (22.05 kHz WAV on stdout)."""

    sample_rate = 22_050

    def __init__(self, voice: str = "en-us") -> None:
        self._binary = shutil.which("espeak-ng") or shutil.which("espeak")
        if self._binary is None:
            raise MissingDependencyError("no Piper voice and no espeak-ng: install one (pip install "
                                         "'assistant[speech]', or apt install espeak-ng) or use --no-speak")
        self.voice_id = f"espeak-ng:{voice}"
        self._voice = voice

    def synthesize(self, text: str, speed: float = 1.0) -> Iterator[np.ndarray]:
        import io

        import soundfile

        words_per_minute = str(int(175 * speed))
        run = subprocess.run([self._binary, "-v", self._voice, "-s", words_per_minute, "--stdout", text],
                             capture_output=True, timeout=60, check=False)
        if run.returncode != 0 or not run.stdout:
            raise ModelFileError(f"espeak-ng failed: {run.stderr.decode(errors='replace').strip()}")
        samples, rate = soundfile.read(io.BytesIO(run.stdout), dtype="int16")
        self.sample_rate = rate
        yield samples


def open_synthesizer(name: str | None = None) -> Synthesizer:
    """A Piper voice (catalog id or .onnx path; default: the catalog's), else espeak-ng.
    ``espeak`` or ``espeak-ng[:voice]`` asks for espeak-ng directly."""
    from ..catalog import load_catalog
    from .assets import resolve

    if name and name.startswith("espeak"):
        return EspeakSynthesizer(name.split(":", 1)[1] if ":" in name else "en-us")
    try:
        voice_id, path = resolve(load_catalog(), "tts", name)
        return PiperSynthesizer(path, voice_id)
    except (ModelFileError, MissingDependencyError):
        if name:  # the user named this voice: say why it failed rather than change voice
            raise
        return EspeakSynthesizer()


def check_speed(speed: float) -> float:
    if not 0.25 <= speed <= 4.0:
        raise InvalidInputError(f"speed must be between 0.25 and 4.0, not {speed}")
    return speed


_SENTENCE_END = re.compile(r"[.!?;:]+[\"')\]]*\s+|\n\s*")
_MARKUP = re.compile(r"[*_`#>|]+|\[([^\]]*)\]\([^)]*\)")
_LIST_MARK = re.compile(r"^\s*(?:[-+*]|\d+[.)])\s+", re.MULTILINE)


def speakable(text: str) -> str:
    """Markdown an LLM writes, as plain words: no asterisks, hashes or link targets."""
    text = _LIST_MARK.sub("", text)
    return re.sub(r"\s+", " ", _MARKUP.sub(lambda m: m.group(1) or "", text)).strip()


class SentenceSplitter:
    """Feed streamed text; get whole sentences as soon as they end, so each can be spoken while
    the next is generated. A first sentence is let out early at a comma once it is long enough,
    to start speaking sooner."""

    def __init__(self, first_clause_chars: int = 60) -> None:
        self._buffer = ""
        self._first = True
        self._first_clause_chars = first_clause_chars

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        out = []
        while True:
            match = _SENTENCE_END.search(self._buffer)
            if match is None and self._first and len(self._buffer) >= self._first_clause_chars:
                match = re.search(r",\s+", self._buffer[self._first_clause_chars // 2:])
                if match is not None:
                    end = match.end() + self._first_clause_chars // 2
                    out.append(self._buffer[:end])
                    self._buffer = self._buffer[end:]
                    self._first = False
                    continue
            if match is None:
                break
            out.append(self._buffer[:match.end()])
            self._buffer = self._buffer[match.end():]
            self._first = False
        return [s for s in (speakable(x) for x in out) if s]

    def flush(self) -> list[str]:
        rest, self._buffer = speakable(self._buffer), ""
        return [rest] if rest else []
