"""Model conversions for other runtimes: ONNX GenAI (onnxruntime-genai) and Core ML."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_source_arguments(ap: argparse.ArgumentParser) -> None:
    """--model ID | --gguf FILE, and --out DIR: what both conversion scripts take."""
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="an installed catalog model id")
    src.add_argument("--gguf", type=Path, help="a GGUF file")
    ap.add_argument("--out", type=Path, required=True, help="the model folder to write")


def source_gguf(args: argparse.Namespace) -> Path:
    if args.gguf is not None:
        return args.gguf
    from ..catalog import load_catalog
    from ..store import model_file

    return model_file(load_catalog().get(args.model))
