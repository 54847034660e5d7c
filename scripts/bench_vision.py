#!/usr/bin/env python3
"""The vision stage, measured: each detector's load time, per-image latency and peak-RSS rise (the
figures behind the ``resident_bytes`` of the vision entries in models/), its accuracy on real
photos, and the full question -> answer path (vision stage + the local LLM) in one process and
over HTTP with the openai client.

Images: scikit-image's sample photos (chelsea the cat, a coffee cup, the astronaut Eileen
Collins, ...) and a sign rendered with PIL; each with the words a right answer may use.

    .venv/bin/python scripts/bench_vision.py [--runs 5] [--model smollm2-135m-instruct-q4_1] [--no-http]

Needs the vision models installed (scripts/setup.sh pulls them) and scikit-image (the dev extra).
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_speech_memory import peak  # noqa: E402 - the process's peak RSS (VmHWM), one definition

MiB = 1024 * 1024
QUESTION = "What is in this picture?"


@dataclass(frozen=True)
class Case:
    name: str
    image: object  # PIL image
    expected: tuple[str, ...]  # any of these words in a stage's output or the answer is a hit


def sign(text: str):
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (640, 200), (250, 250, 245))
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 64)
    except OSError:
        font = ImageFont.load_default(size=64)
    draw.text((30, 60), text, fill=(20, 20, 20), font=font)
    return image


def cases() -> list[Case]:
    import skimage.data as data
    from PIL import Image

    def photo(name: str):
        return Image.fromarray(getattr(data, name)()).convert("RGB")

    return [Case("chelsea (cat)", photo("chelsea"), ("cat",)),
            Case("coffee", photo("coffee"), ("cup", "coffee", "espresso", "mug")),
            Case("astronaut", photo("astronaut"), ("person", "face", "people", "woman", "astronaut")),
            Case("camera(man)", photo("camera"), ("person", "face", "people", "man", "camera", "tripod")),
            Case("sign", sign("CLOSED TODAY"), ("closed",))]


def words_of(stage: str, found) -> str:
    if stage == "labels":
        return " ".join(f"{lb.name} {lb.group or ''}" for lb in found)
    if stage == "ocr":
        return " ".join(t.text for t in found)
    return " ".join(d.label for d in found)


def hit(text: str, expected: tuple[str, ...]) -> bool:
    low = text.lower()
    return any(word in low for word in expected)


def bench_stages(stack, items: list[Case], runs: int) -> None:
    from assistant.vision import models

    print("stage    model                            device  load s  median ms  p90 ms  RSS rise MiB  hits")
    calls = {"labels": "classify", "objects": "detect", "faces": "detect"}
    for stage in ("labels", "objects", "faces", "ocr"):
        before = peak()
        start = time.perf_counter()
        detector = stack.ocr() if stage == "ocr" else stack.detector(stage)
        if detector is None:
            print(f"{stage:8} not installed (assistant models pull {models.catalog().default_of(models.KIND_OF[stage]).id})")
            continue
        load = time.perf_counter() - start
        run = detector.read if stage == "ocr" else getattr(detector, calls[stage])
        times, hits = [], 0
        for case in items:
            found = run(case.image)
            hits += hit(words_of(stage, found), case.expected)
            for _ in range(runs):
                t = time.perf_counter()
                run(case.image)
                times.append(time.perf_counter() - t)
        times.sort()
        rise = (peak() - before) / MiB
        model = models.catalog().default_of(models.KIND_OF[stage]).id
        print(f"{stage:8} {model:32} {detector.device:6} {load:6.2f}  {statistics.median(times) * 1000:9.1f}"
              f"  {times[int(len(times) * 0.9)] * 1000:6.1f}  {rise:12.1f}  {hits}/{len(items)}")


def bench_answers(stack, items: list[Case], model: str | None, runs: int) -> None:
    from assistant.runtimes.base import GenerationRequest, SamplingParams
    from assistant.see import SYSTEM_PROMPT
    from assistant.serve import load_single_engine

    engine = load_single_engine(model, 2048, None)
    try:
        print(f"\nquestion -> answer in one process ({engine.model_id}; vision stage + prompt + up to 64 tokens):")
        totals, hits = [], 0
        for case in items:
            for i in range(max(1, runs // 2)):
                start = time.perf_counter()
                report = stack.report(case.image)
                messages = [{"role": "system", "content": SYSTEM_PROMPT},
                            {"role": "user", "content": f"{report.sentence()}\n{QUESTION}"}]
                chunks = list(engine.submit(GenerationRequest(tuple(engine.chat_prompt_tokens(messages)), 64,
                                                              sampling=SamplingParams(temperature=0.0))))
                totals.append(time.perf_counter() - start)
            answer = "".join(c.text for c in chunks).strip()
            ok = hit(answer, case.expected)
            hits += ok
            print(f"  {case.name:14} {'hit ' if ok else 'MISS'} {totals[-1]:.2f} s  {report.sentence()}\n"
                  f"  {'':14}      -> {answer[:150]}")
        print(f"  median {statistics.median(totals):.2f} s per question; answers naming what is there: {hits}/{len(items)}")
    finally:
        engine.close()


def bench_http(items: list[Case], model: str | None, runs: int) -> None:
    import socket
    import subprocess

    from openai import OpenAI

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(Path(sys.executable).parent / "assistant"), "serve", "--port", str(port)] + (["--model", model] if model else [])
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import httpx

        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)
        for _ in range(600):
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                if health.status_code == 200:
                    served = health.json()["model"]
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("the server did not start")
        totals, hits = [], 0
        print(f"\nquestion -> answer over HTTP (openai client, {served}, no system prompt):")
        for case in items:
            buf = io.BytesIO()
            case.image.save(buf, "JPEG", quality=90)
            url = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
            for _ in range(max(1, runs // 2)):
                start = time.perf_counter()
                reply = client.chat.completions.create(model=served, max_tokens=64, temperature=0, messages=[
                    {"role": "user", "content": [{"type": "text", "text": QUESTION},
                                                 {"type": "image_url", "image_url": {"url": url}}]}])
                totals.append(time.perf_counter() - start)
            content = reply.choices[0].message.content or ""
            ok = hit(content, case.expected)
            hits += ok
            print(f"  {case.name:14} {'hit ' if ok else 'MISS'} {totals[-1]:.2f} s -> {content[:100]}")
        print(f"  median {statistics.median(totals):.2f} s per request (JPEG upload, decode, vision stage, LLM); "
              f"answers naming what is there: {hits}/{len(items)}")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per image and detector")
    ap.add_argument("--model", help="the LLM (default: the embedded default)")
    ap.add_argument("--no-http", action="store_true", help="skip the HTTP measurement")
    args = ap.parse_args()
    from assistant.vision.bridge import VisionStack

    base = peak()
    items = cases()
    print(f"python + numpy + PIL + scikit-image: peak RSS {base / MiB:.1f} MiB\n")
    stack = VisionStack()
    bench_stages(stack, items, args.runs)
    print(f"peak RSS of the whole vision stage: {peak() / MiB:.1f} MiB")
    bench_answers(stack, items, args.model, args.runs)
    if not args.no_http:
        bench_http(items, args.model, args.runs)


if __name__ == "__main__":
    main()
