"""A GGUF file as a Hugging Face checkpoint folder (safetensors, config, tokenizer, chat template),
through transformers' GGUF loader, which dequantises the weights to float32. Both converters
start from it: onnxruntime-genai's builder and the Core ML conversion."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelFileError


def gguf_to_checkpoint(gguf: Path, folder: Path) -> None:
    import logging

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except (ValueError, KeyError, OSError) as exc:
        raise ModelFileError(f"transformers cannot read {gguf.name}: {exc}") from None
    # The weights are plain floats now; drop the marker that forbids saving a "quantised" model.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
