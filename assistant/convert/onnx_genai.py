"""GGUF -> ONNX GenAI model folder, for the onnxruntime-genai runtime.

onnxruntime-genai's model builder reads Hugging Face checkpoints (its own GGUF path takes only
f16/f32 files), so a quantised GGUF goes through transformers' GGUF loader (which dequantises it)
into a temporary safetensors checkpoint, and the builder quantises that again for the target
(int4 MatMulNBits on the CPU, block 32, asymmetric like Q4_1) and writes the genai_config.json,
the tokenizer and the chat template beside the model.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import MissingDependencyError, ModelFileError
from .checkpoint import gguf_to_checkpoint

NEEDS = {"transformers": "transformers", "gguf": "gguf", "accelerate": "accelerate", "torch": "torch",
         "onnx": "onnx", "onnx_ir": "onnx_ir", "onnxruntime_genai": "onnxruntime-genai"}
EXECUTION_PROVIDERS = ("cpu", "cuda", "dml", "webgpu", "NvTensorRtRtx")


def check_tools() -> None:
    missing = [pkg for module, pkg in NEEDS.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise MissingDependencyError(f"the conversion needs {', '.join(missing)}; install them with "
                                     "pip install 'assistant[convert]'")


def gguf_to_onnx_genai(gguf: Path, out: Path, *, precision: str = "int4", execution_provider: str = "cpu",
                       say=print) -> Path:
    """Convert one GGUF file; returns the model folder (``out``), written whole or not at all."""
    check_tools()
    if precision not in ("int4", "fp16", "fp32"):
        raise ModelFileError(f"precision must be int4, fp16 or fp32, not {precision!r}")
    if execution_provider not in EXECUTION_PROVIDERS:
        raise ModelFileError(f"execution provider must be one of {', '.join(EXECUTION_PROVIDERS)}")
    if not gguf.is_file():
        raise ModelFileError(f"{gguf} does not exist")
    with tempfile.TemporaryDirectory(prefix="assistant-convert-") as tmp:
        checkpoint, partial = Path(tmp) / "hf", Path(tmp) / "onnx"
        say(f"reading {gguf.name} (dequantising through transformers)...")
        gguf_to_checkpoint(gguf, checkpoint)
        say(f"building the ONNX GenAI model ({precision}, {execution_provider})...")
        command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(checkpoint), "-o", str(partial),
                   "-p", precision, "-e", execution_provider, "-c", str(Path(tmp) / "cache")]
        if precision == "int4":
            command += ["--extra_options", "int4_block_size=32", "int4_is_symmetric=false"]
        run = subprocess.run(command, capture_output=True, text=True)
        if run.returncode != 0 or not (partial / "genai_config.json").is_file():
            tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ModelFileError(f"onnxruntime-genai's builder failed on {gguf.name}: {tail[0]}")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(partial), str(out))
    return out
