#!/usr/bin/env python3
"""Predicted vs measured peak RSS of serving one request with llama.cpp.

For each local GGUF model and context length, a fresh process loads the model through
llama-cpp-python the way the assistant's runtime does (flash attention, swa_full=False, mmap,
f16 KV), evaluates a prompt that fills the context (the worst case a request can reach), decodes
a few tokens, and reports its peak RSS (VmHWM). The estimator's prediction for the same
configuration is printed beside it with the error.

    .venv/bin/python scripts/bench_memory.py                 # both local models, 2048/8192/32768
    .venv/bin/python scripts/bench_memory.py --contexts 2048 --fill 0.5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

MiB = 1024 * 1024
MODELS = ("smollm2-135m-instruct-q4_1", "gemma-3-270m-q4_k_m")

CHILD = r"""
import json, random, sys, time
path, n_ctx, fill, threads = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])

def status():
    out = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) * 1024
    return out

import llama_cpp
llm = llama_cpp.Llama(path, n_ctx=n_ctx, n_threads=threads, flash_attn=True, swa_full=False,
                      use_mmap=True, verbose=False)
loaded = status()
random.seed(0)
n_vocab = llm.n_vocab()
n_prompt = max(1, int((n_ctx - 32) * fill))
tokens = [random.randrange(100, n_vocab - 100) for _ in range(n_prompt)]
t0 = time.perf_counter()
llm.eval(tokens)
t1 = time.perf_counter()
for i, _ in enumerate(llm.generate([tokens[-1]], temp=0.0, reset=False)):
    if i >= 15:
        break
t2 = time.perf_counter()
print(json.dumps({"loaded": loaded, "peak": status(), "prompt_tokens": n_prompt,
                  "prompt_s": t1 - t0, "decode_s": t2 - t1}))
"""


def measure(path: Path, n_ctx: int, fill: float, threads: int) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(path), str(n_ctx), str(fill), str(threads)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"measuring {path.name} at {n_ctx} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--contexts", nargs="*", type=int, default=[2048, 8192, 32768])
    parser.add_argument("--fill", type=float, default=1.0, help="fraction of the context the prompt fills")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()

    from assistant.catalog import load_catalog
    from assistant.hardware import probe
    from assistant.memory import RuntimeConfig, estimate_spec
    from assistant.store import install

    catalog = load_catalog()
    features = tuple(probe().cpu.features)
    rows = []
    header = f"{'model':<28} {'context':>7} {'predicted':>10} {'measured':>10} {'error':>7}   {'kv':>7} {'weights':>8} {'prompt':>9}"
    if not args.json:
        print(header)
        print("-" * len(header))
    for model_id in args.models:
        spec = catalog.get(model_id)
        path = install(spec)
        for n_ctx in args.contexts:
            est = estimate_spec(spec, RuntimeConfig(context_length=n_ctx, cpu_features=features), path)
            started = time.perf_counter()
            m = measure(path, n_ctx, args.fill, args.threads)
            measured = m["peak"]["VmHWM"]
            error = (est.total_bytes - measured) / measured
            row = {"model": model_id, "context": n_ctx, "predicted_bytes": est.total_bytes,
                   "measured_bytes": measured, "error": round(error, 4), "kv_cache_bytes": est.kv_cache_bytes,
                   "weights_bytes": est.weights_bytes, "prompt_tokens": m["prompt_tokens"],
                   "prompt_tok_s": round(m["prompt_tokens"] / m["prompt_s"], 1),
                   "wall_s": round(time.perf_counter() - started, 1)}
            rows.append(row)
            if not args.json:
                print(f"{model_id:<28} {n_ctx:>7} {est.total_bytes / MiB:>7.1f} MiB {measured / MiB:>6.1f} MiB "
                      f"{error:>+7.1%}   {est.kv_cache_bytes / MiB:>4.0f} MiB {est.weights_bytes / MiB:>5.0f} MiB "
                      f"{row['prompt_tok_s']:>5.0f} t/s", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        worst = max(abs(r["error"]) for r in rows)
        print(f"\nworst error {worst:.1%} (goal: within 10%)")


if __name__ == "__main__":
    main()
