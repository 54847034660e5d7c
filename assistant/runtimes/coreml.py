"""The Core ML engine, for Apple's Neural Engine: a folder made by scripts/convert_coreml.py
(``model.mlpackage`` with its KV cache in Core ML states, the tokenizer, the chat template).

Core ML runs models only on macOS: elsewhere loading says so in one line (the conversion itself
runs anywhere). Prefill sends the whole prompt with its causal mask; each next token is one step
against the cached state. One request at a time (runtimes/serial.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import MissingDependencyError, ModelFileError
from .base import GenerationRequest, SamplingParams
from .serial import SerialEngine, template_and_specials

COMPUTE_UNITS = ("CPU_AND_NE", "ALL", "CPU_AND_GPU", "CPU_ONLY")


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "coreml_config.json").is_file()


def causal_mask(n: int, end: int) -> np.ndarray:
    """[1, 1, n, end]: row r (position end - n + r) sees columns up to its own position."""
    rows = np.arange(end - n, end)[:, None]
    return np.where(np.arange(end)[None, :] <= rows, 0.0, -np.inf).astype(np.float16)[None, None]


def sample_token(logits: np.ndarray, s: SamplingParams, rng: np.random.Generator) -> int:
    """Greedy at temperature 0; else top-k, then top-p, then temperature, as llama.cpp's chain."""
    logits = logits.astype(np.float64)
    if s.temperature <= 0:
        return int(np.argmax(logits))
    order = np.argsort(-logits)
    if s.top_k > 0:
        order = order[:s.top_k]
    probs = np.exp((logits[order] - logits[order[0]]) / s.temperature)
    probs /= probs.sum()
    if s.top_p < 1.0:
        keep = int(np.searchsorted(np.cumsum(probs), s.top_p) + 1)
        order, probs = order[:keep], probs[:keep] / probs[:keep].sum()
    return int(rng.choice(order, p=probs))


class CoreMLEngine(SerialEngine):
    runtime_name = "Core ML"

    def __init__(self, path: str | Path, *, model_id: str | None = None, context_length: int = 4096,
                 compute_units: str = "CPU_AND_NE", max_queue: int = 64) -> None:
        path = Path(path)
        if not is_model_folder(path) or not (path / "model.mlpackage").is_dir():
            raise ModelFileError(f"{path} is not a Core ML model folder (model.mlpackage and coreml_config.json); "
                                 "make one with scripts/convert_coreml.py")
        if compute_units not in COMPUTE_UNITS:
            raise ModelFileError(f"compute units must be one of {', '.join(COMPUTE_UNITS)}")
        if sys.platform != "darwin":
            raise MissingDependencyError(f"Core ML runs models only on macOS, and this is {sys.platform}; the "
                                         "conversion works here, serve the folder on a Mac")
        import coremltools as ct
        from tokenizers import Tokenizer

        config = json.loads((path / "coreml_config.json").read_text())
        self.path, self.model_id, self.max_queue = path, model_id or path.name, max_queue
        self.context_length = min(context_length, int(config["max_context"]))
        eos = config.get("eos_token_id")
        self._eos = set(eos if isinstance(eos, list) else [eos])
        try:
            self._model = ct.models.MLModel(str(path / "model.mlpackage"),
                                            compute_units=getattr(ct.ComputeUnit, compute_units))
        except Exception as exc:  # Core ML's own errors for a damaged or too new package
            raise ModelFileError(f"Core ML could not load {path / 'model.mlpackage'}: {exc}") from None
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._template, self._special = template_and_specials(path)
        self._start_worker()

    def tokenize(self, text: str, *, add_special: bool = True) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def detokenize(self, tokens: list[int]) -> str:
        return self._tokenizer.decode(tokens, skip_special_tokens=False)

    def _piece_decoder(self) -> Callable[[int], str]:
        seen: list[int] = []
        said = [""]

        def decode(token: int) -> str:
            seen.append(token)
            text = self._tokenizer.decode(seen, skip_special_tokens=False)
            if text.endswith("\ufffd"):  # half a character: wait for the rest
                return ""
            new, said[0] = text[len(said[0]):], text
            return new

        return decode

    def _tokens(self, request: GenerationRequest) -> Iterator[int]:
        rng = np.random.default_rng(request.sampling.seed)
        state = self._model.make_state()
        ids = list(request.prompt_tokens)
        out = self._model.predict({"input_ids": np.asarray([ids], np.int32),
                                   "causal_mask": causal_mask(len(ids), len(ids))}, state)
        end = len(ids)
        while end < self.context_length:
            token = sample_token(np.asarray(out["logits"])[0, -1], request.sampling, rng)
            if token in self._eos:
                return
            yield token
            end += 1
            out = self._model.predict({"input_ids": np.asarray([[token]], np.int32),
                                       "causal_mask": causal_mask(1, end)}, state)
