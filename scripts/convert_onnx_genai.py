#!/usr/bin/env python
"""Make an ONNX GenAI model folder (for `assistant serve --model FOLDER`, onnxruntime-genai) from a
GGUF file or an installed catalog model.

    .venv/bin/python scripts/convert_onnx_genai.py --model smollm2-135m-instruct-q4_1 --out models-onnx/smollm2
    .venv/bin/python scripts/convert_onnx_genai.py --gguf file.gguf --out DIR [--precision int4|fp16|fp32] [-e cpu|cuda|dml]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    from assistant.convert.onnx_genai import EXECUTION_PROVIDERS, gguf_to_onnx_genai
    from assistant.convert import add_source_arguments, source_gguf
    from assistant.errors import AssistantError

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_arguments(ap)
    ap.add_argument("--precision", default="int4", choices=("int4", "fp16", "fp32"))
    ap.add_argument("-e", "--execution-provider", default="cpu", choices=EXECUTION_PROVIDERS)
    args = ap.parse_args()
    try:
        gguf = source_gguf(args)
        start = time.perf_counter()
        out = gguf_to_onnx_genai(gguf, args.out, precision=args.precision,
                                 execution_provider=args.execution_provider, say=print)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {out} ({size / 2**20:.1f} MiB) in {time.perf_counter() - start:.1f} s; "
          f"serve it with: assistant serve --model {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
