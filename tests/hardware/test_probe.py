"""The probe on this machine, the spec document and its schema."""

from __future__ import annotations

import json

import pytest

from assistant.errors import InvalidInputError
from assistant.hardware import HardwareSpec, load_spec, probe
from tests.conftest import SPECS


def test_probe_of_this_machine_validates(hardware_validator):
    spec = probe()
    doc = spec.to_document()
    hardware_validator.validate(doc)
    assert spec.cpu.cores >= 1
    assert 0 < (spec.memory.available_bytes or 0) <= spec.memory.total_bytes


def test_document_round_trip():
    spec = probe()
    assert HardwareSpec.from_document(json.loads(spec.to_json())) == spec


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.json")), ids=lambda p: p.stem)
def test_device_spec_files_validate(path, hardware_validator):
    hardware_validator.validate(json.loads(path.read_text()))
    assert load_spec(path).to_document() == json.loads(path.read_text())


def test_bad_spec_files(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_spec(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_spec(bad)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"schema": "something/1"}))
    with pytest.raises(InvalidInputError, match="not a hardware spec"):
        load_spec(wrong)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"schema": "assistant.hardware/1", "name": "x"}))
    with pytest.raises(InvalidInputError, match="incomplete"):
        load_spec(partial)
