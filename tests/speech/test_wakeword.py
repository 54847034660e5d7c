"""The wake word on real Piper and espeak-ng speech, and where it runs (CPU or Edge TPU)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from assistant.errors import ModelFileError
from assistant.speech.audio import frames_of
from assistant.speech.clips import silence, speech
from assistant.speech.wakeword import (BUILTIN_WAKE_WORDS, VARIABLE_OPS, choose_engine, load_model, model_ops,
                                       open_detector)


def detections(detector, samples):
    return [d for d in (detector.process(f) for f in frames_of(samples)) if d is not None]


@pytest.mark.parametrize("engine", ["litert-cpu", "pymicro-cpu"])
def test_fires_once_at_the_end_of_the_wake_phrase(france, engine):
    from assistant.speech.wakeword import EngineChoice, WakeWordDetector

    clip, _ = france
    detector = WakeWordDetector(load_model("okay_nabu"), EngineChoice(engine, "test"))
    found = detections(detector, clip.samples)
    assert len(found) == 1
    assert found[0].word == "okay_nabu" and found[0].probability > 0.85
    assert abs(found[0].t - clip.wake_end) < 0.3, (found[0].t, clip.wake_end)


def test_silent_on_wake_free_speech(chatter):
    clip, _ = chatter
    assert len(clip.samples) / 16000 > 60
    assert detections(open_detector("okay_nabu", coral_found=False), clip.samples) == []


def test_other_wake_words_do_not_answer_to_okay_nabu(france):
    clip, _ = france
    for name in BUILTIN_WAKE_WORDS[1:]:
        assert detections(open_detector(name, coral_found=False), clip.samples) == [], name


def test_hey_jarvis_fires_on_hey_jarvis(piper):
    samples = np.concatenate([silence(0.5), speech(piper, "Hey Jarvis."), silence(1.0)])
    found = detections(open_detector("hey_jarvis", coral_found=False), samples)
    assert [d.word for d in found] == ["hey_jarvis"]


def test_refractory_period_gives_one_event_per_utterance(piper):
    wake = speech(piper, "Okay nabu.")
    close_together = np.concatenate([silence(0.3), wake, silence(0.2), wake, silence(1.0)])
    far_apart = np.concatenate([silence(0.3), wake, silence(2.5), wake, silence(1.0)])
    assert len(detections(open_detector("okay_nabu", coral_found=False, refractory_s=2.0), close_together)) == 1
    assert len(detections(open_detector("okay_nabu", coral_found=False, refractory_s=2.0), far_apart)) == 2


def test_threshold_is_configurable(france):
    clip, _ = france
    assert detections(open_detector("okay_nabu", coral_found=False, cutoff=0.999), clip.samples) == []


def test_custom_model_by_path(tmp_path, france):
    builtin = load_model("okay_nabu")
    custom = tmp_path / "my_word.tflite"
    shutil.copy(builtin.path, custom)
    model = load_model(str(custom))
    assert (model.name, model.cutoff, model.window) == ("my_word", 0.9, 5)  # no JSON beside it: defaults
    (tmp_path / "my_word.json").write_text('{"wake_word": "My Word", "micro": {"probability_cutoff": 0.8, '
                                           '"sliding_window_size": 4}}')
    model = load_model(str(custom))
    assert (model.phrase, model.cutoff, model.window) == ("My Word", 0.8, 4)
    found = detections(open_detector(str(custom), coral_found=False), france[0].samples)
    assert [d.word for d in found] == ["my_word"]


def test_unknown_or_missing_models_are_clear_errors(tmp_path):
    with pytest.raises(ModelFileError, match="unknown wake word 'hey_computer'"):
        load_model("hey_computer")
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(str(tmp_path / "gone.tflite"))
    with pytest.raises(ModelFileError, match="unknown wake-word engine"):
        open_detector("okay_nabu", requested="gpu", coral_found=False)


def test_the_shipped_models_are_streaming_models_with_variable_ops():
    ops, compiled = model_ops(load_model("okay_nabu").path)
    assert VARIABLE_OPS <= ops and "CONV_2D" in ops
    assert compiled is False


def test_a_coral_does_not_take_a_streaming_model():
    """Here a Coral is reported present (as the probe would on a Pi + Coral): the real model still
    lands on the CPU, and the reason names the ops the Edge TPU compiler cannot map."""
    detector = open_detector("okay_nabu", requested="edgetpu", coral_found=True)
    assert detector.engine.engine == "litert-cpu"
    assert "instead of the Edge TPU" in detector.engine.reason and "VAR_HANDLE" in detector.engine.reason


def test_the_edge_tpu_runtime_is_reported_missing_here():
    """No libedgetpu on this machine: the loader's own error is what the user sees."""
    from assistant.speech.wakeword import edgetpu_delegate_error

    assert "libedgetpu" in edgetpu_delegate_error()


STREAMING = frozenset({"VAR_HANDLE", "CONV_2D"})


@pytest.mark.parametrize("requested, ops, compiled, coral, delegate_error, engine, reason", [
    ("auto", frozenset({"CONV_2D"}), True, True, None, "edgetpu", "Coral Edge TPU is present"),
    ("auto", STREAMING, False, True, None, "litert-cpu", "variable ops (VAR_HANDLE)"),
    ("auto", STREAMING, False, False, None, "litert-cpu", "no Coral Edge TPU found"),
    ("auto", frozenset({"CONV_2D"}), False, True, None, "litert-cpu", "not compiled for the Edge TPU"),
    ("edgetpu", STREAMING, False, False, None, "litert-cpu", "instead of the Edge TPU"),
    ("cpu", frozenset({"CONV_2D"}), False, True, None, "litert-cpu", "the CPU was asked for"),
])
def test_engine_choice(requested, ops, compiled, coral, delegate_error, engine, reason):
    choice = choose_engine(requested, ops, compiled, coral, delegate_error, litert_installed=True)
    assert choice.engine == engine and reason in choice.reason


def test_engine_choice_for_models_that_only_run_on_the_tpu():
    with pytest.raises(ModelFileError, match="no Coral Edge TPU was found"):
        choose_engine("auto", frozenset(), True, False, None, True)
    with pytest.raises(ModelFileError, match="could not be loaded .*libedgetpu.so.1: cannot open"):
        choose_engine("auto", frozenset(), True, True, "libedgetpu.so.1: cannot open shared object file", True)
    with pytest.raises(ModelFileError, match="cannot run on the CPU"):
        choose_engine("cpu", frozenset(), True, True, None, True)
    assert choose_engine("auto", STREAMING, False, False, None, litert_installed=False).engine == "pymicro-cpu"
