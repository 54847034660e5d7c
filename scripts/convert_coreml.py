#!/usr/bin/env python
"""Make a Core ML model folder (for `assistant serve --model FOLDER` on a Mac: the Neural Engine,
with the KV cache in Core ML states) from a Llama-architecture GGUF or an installed catalog model.
The conversion runs on any OS; running the model needs macOS.

    .venv/bin/python scripts/convert_coreml.py --model smollm2-135m-instruct-q4_1 --out models-coreml/smollm2
    .venv/bin/python scripts/convert_coreml.py --gguf file.gguf --out DIR [--max-context 512]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    from assistant.convert.coreml import gguf_to_coreml
    from assistant.convert import add_source_arguments, source_gguf
    from assistant.errors import AssistantError

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_arguments(ap)
    ap.add_argument("--max-context", type=int, default=512, help="tokens the KV cache state holds")
    args = ap.parse_args()
    try:
        gguf = source_gguf(args)
        start = time.perf_counter()
        result = gguf_to_coreml(gguf, args.out, max_context=args.max_context, say=print)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    size = sum(p.stat().st_size for p in result.path.rglob("*") if p.is_file())
    print(f"wrote {result.path} ({size / 2**20:.1f} MiB) in {time.perf_counter() - start:.1f} s; logits match "
          f"transformers within {result.max_logit_difference:.2g}; serve it on a Mac with: "
          f"assistant serve --model {result.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
