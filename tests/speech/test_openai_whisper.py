"""The openai-whisper backend's loading code, on a small checkpoint built here in the format its
``load_model`` reads ({"dims", "model_state_dict"}), and its transcribe path end to end."""

from __future__ import annotations

import pytest

from assistant.errors import AudioError, ModelFileError
from assistant.speech.stt import OpenAIWhisper, TranscribeOptions, open_transcriber


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import dataclasses

    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    # English-only vocabulary (51864), the real audio front end (80 mels, 1500 frames), one tiny layer
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
                           n_vocab=51864, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=1)
    path = tmp_path_factory.mktemp("whisper") / "tiny-test.en.pt"
    torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": Whisper(dims).state_dict()}, path)
    return path


def test_loads_a_checkpoint_and_transcribes(checkpoint, france):
    transcriber = open_transcriber(str(checkpoint), device="cpu", threads=2)
    assert isinstance(transcriber, OpenAIWhisper)
    assert transcriber.model_id == "tiny-test.en" and transcriber.english_only and transcriber.device == "cpu"
    clip, _ = france
    result = transcriber.transcribe(clip.samples[:32000], TranscribeOptions(timestamps=True))
    # random weights say nothing sensible, but the whole decode ran and gave the usual shape
    assert isinstance(result.text, str) and result.duration == 2.0 and result.language == "en"
    with pytest.raises(AudioError, match="English only"):
        transcriber.transcribe(clip.samples[:16000], TranscribeOptions(language="fr"))


def test_bad_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        open_transcriber(str(tmp_path / "missing.pt"))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="cannot load the Whisper checkpoint"):
        open_transcriber(str(broken))
