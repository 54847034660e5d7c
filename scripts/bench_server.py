#!/usr/bin/env python3
"""Our HTTP server vs the raw llama-cpp-python binding, measured in one run on one model.

1. In-process reference: llama_cpp.Llama streaming a completion (flash attention, as we run it):
   time to first token and decode tokens/s.
2. `assistant serve` on a loopback port, driven by the official openai client: the same request,
   then 2 and 4 concurrent streams (aggregate tokens/s, continuous batching).
3. The server's peak RSS against the memory estimate its pre-flight made.

    .venv/bin/python scripts/bench_server.py [--model gemma-3-270m-q4_k_m] [--tokens 128]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

PROMPT = "The history of the city of Paris begins"


class Reference:
    """The model called in-process through llama-cpp-python, as we run it (flash attention, no
    full-size sliding-window cache)."""

    def __init__(self, path: Path, threads: int, context: int) -> None:
        import llama_cpp

        self.llm = llama_cpp.Llama(str(path), n_ctx=context, n_threads=threads, flash_attn=True, swa_full=False,
                                   verbose=False)
        self.llm.create_completion(PROMPT, max_tokens=4, temperature=0)  # warm-up

    def run(self, tokens: int) -> tuple[float, float]:
        start = time.perf_counter()
        first = None
        n = 0
        for _ in self.llm.create_completion(PROMPT, max_tokens=tokens, temperature=0, stream=True):
            n += 1
            if first is None:
                first = time.perf_counter()
        end = time.perf_counter()
        return first - start, (n - 1) / (end - first)


def stream_once(client, model: str, tokens: int) -> tuple[float, int, float, float]:
    start = time.perf_counter()
    first = None
    pieces = 0
    usage = None
    for chunk in client.completions.create(model=model, prompt=PROMPT, max_tokens=tokens, temperature=0,
                                           stream=True, stream_options={"include_usage": True}):
        if chunk.usage is not None:
            usage = chunk.usage
        if chunk.choices and chunk.choices[0].text and first is None:
            first = time.perf_counter()
        pieces += 1
    end = time.perf_counter()
    return first - start, usage.completion_tokens, first, end


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str) -> None:
    import httpx

    for _ in range(1200):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not become healthy")


def sweep(client, model: str, tokens: int, label: str) -> None:
    """Aggregate decode tokens/s with 1, 2 and 4 streams at once."""
    single = None
    for streams in (1, 2, 4):
        results: list[tuple[float, int, float, float]] = []
        threads = [threading.Thread(target=lambda: results.append(stream_once(client, model, tokens)))
                   for _ in range(streams)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rate = sum(r[1] for r in results) / (time.perf_counter() - start)
        single = single or rate
        print(f"{label}: {streams} stream(s) {rate:6.1f} tok/s aggregate ({rate / single:.2f}x one stream)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-3-270m-q4_k_m")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=5, help="alternating runs of binding and server")
    parser.add_argument("--llama-server", type=Path, default=None,
                        help="a llama-server binary (built from the same llama.cpp) to sweep as a reference")
    args = parser.parse_args()

    from openai import OpenAI

    from assistant.budget import ensure_model_fits
    from assistant.catalog import load_catalog
    from assistant.hardware import probe
    from assistant.serve import runtime_config
    from assistant.settings import ServeSettings
    from assistant.store import install

    catalog, hw = load_catalog(), probe()
    spec = catalog.get(args.model)
    path = install(spec)

    reference = Reference(path, args.threads, args.context)
    port = free_port()
    exe = Path(sys.executable).parent / "assistant"
    proc = subprocess.Popen([str(exe), "serve", "--model", args.model, "--port", str(port), "--context",
                             str(args.context), "--slots", "4", "--threads", str(args.threads)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=300)
        stream_once(client, args.model, 4)  # warm-up
        # Alternate the two, so that load from elsewhere on the machine hits both alike; report medians.
        ref_runs, http_runs = [], []
        for _ in range(args.repeat):
            ref_runs.append(reference.run(args.tokens))
            ttft, n, first, end = stream_once(client, args.model, args.tokens)
            http_runs.append((ttft, (n - 1) / (end - first)))
        ttft_ref, tps_ref = (statistics.median(x) for x in zip(*ref_runs, strict=True))
        ttft, tps_one = (statistics.median(x) for x in zip(*http_runs, strict=True))
        print(f"binding in-process : TTFT {ttft_ref * 1000:6.1f} ms   decode {tps_ref:6.1f} tok/s   "
              f"(median of {args.repeat})")
        print(f"server over HTTP   : TTFT {ttft * 1000:6.1f} ms   decode {tps_one:6.1f} tok/s   "
              f"ratio {tps_one / tps_ref:.2f} (goal >= 0.95)")
        print("per run, binding / server tok/s: " + ", ".join(f"{a[1]:.0f}/{b[1]:.0f}" for a, b in zip(ref_runs, http_runs, strict=True)))
        sweep(client, args.model, args.tokens, "our server  ")
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM"))
        settings = ServeSettings(model=args.model, context=args.context, slots=4)
        est = ensure_model_fits(spec, runtime_config(settings, hw), hw, catalog, file=path)
        print(f"server peak RSS    : {peak / 2**20:6.1f} MiB, estimate {est.total_bytes / 2**20:6.1f} MiB "
              f"({(est.total_bytes - peak) / peak:+.1%}), the pre-flight's figure for 4 slots")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    if args.llama_server:
        # llama.cpp's own server with 4 slots (as `-np 4`), same model, threads and per-slot context.
        port = free_port()
        ref = subprocess.Popen([str(args.llama_server), "-m", str(path), "--port", str(port), "-np", "4",
                                "-c", str(args.context * 4), "-t", str(args.threads), "-fa", "on"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_healthy(f"http://127.0.0.1:{port}")
            client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=300)
            stream_once(client, args.model, 4)
            sweep(client, args.model, args.tokens, "llama-server")
        finally:
            ref.terminate()
            ref.wait(timeout=20)


if __name__ == "__main__":
    main()
