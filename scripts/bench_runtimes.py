#!/usr/bin/env python
"""The two LLM runtimes on the same model, on this CPU: llama.cpp on the SmolLM2 GGUF (Q4_1) vs
onnxruntime-genai on the same weights converted to ONNX GenAI (int4, block 32). Greedy, one
request at a time, through the engines the server uses; medians of alternated runs.

    .venv/bin/python scripts/bench_runtimes.py [--onnx FOLDER] [--runs 5] [--tokens 128] [--threads 2]

Without --onnx the folder is converted first (scripts/convert_onnx_genai.py's function).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODEL = "smollm2-135m-instruct-q4_1"
MESSAGES = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Write a long story about a dragon who learns to cook."}]


def measure(engine, tokens: int) -> tuple[float, float]:
    """(seconds to the first token, decode tokens per second after it)."""
    from assistant.runtimes.base import GenerationRequest, SamplingParams

    request = GenerationRequest(prompt_tokens=tuple(engine.chat_prompt_tokens(MESSAGES)), max_tokens=tokens,
                                sampling=SamplingParams(temperature=0.0))
    start = time.perf_counter()
    first, count = None, 0
    for chunk in engine.submit(request):
        if chunk.text and first is None:
            first = time.perf_counter()
        if chunk.finish_reason:
            count = chunk.completion_tokens
    end = time.perf_counter()
    return (first or end) - start, (count - 1) / (end - (first or end)) if count > 1 else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", type=Path, help="an ONNX GenAI folder of the same model")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from assistant.catalog import load_catalog
    from assistant.runtimes.llamacpp import LlamaCppEngine
    from assistant.runtimes.ortgenai import OrtGenaiEngine
    from assistant.store import model_file

    gguf = model_file(load_catalog().get(MODEL))
    tmp = None
    folder = args.onnx
    if folder is None:
        from assistant.convert.onnx_genai import gguf_to_onnx_genai

        tmp = tempfile.TemporaryDirectory()
        folder = gguf_to_onnx_genai(gguf, Path(tmp.name) / "onnx", say=lambda m: print(m, flush=True))
    engines = {"llama.cpp (GGUF Q4_1)": LlamaCppEngine(gguf, context_length=2048, slots=1, threads=args.threads),
               "onnxruntime-genai (int4)": OrtGenaiEngine(folder, context_length=2048)}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in engines}
    for name, engine in engines.items():
        measure(engine, 8)  # warm-up
    for _ in range(args.runs):
        for name, engine in engines.items():
            results[name].append(measure(engine, args.tokens))
    print(f"\n{MODEL}, greedy, {args.tokens} tokens, {args.runs} alternated runs, {args.threads} threads:")
    base = None
    for name, rows in results.items():
        ttft = statistics.median(r[0] for r in rows)
        tps = statistics.median(r[1] for r in rows)
        base = base or tps
        print(f"  {name:<26} first token {ttft * 1000:6.1f} ms   decode {tps:6.1f} tok/s   ({tps / base:.2f}x llama.cpp)")
    for engine in engines.values():
        engine.close()
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
