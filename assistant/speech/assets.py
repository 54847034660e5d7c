"""Where a speech model's files are: the Python package that ships them (installed with the
``speech`` extra), else the model store, else a clear error saying what to install."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..catalog import Catalog, ModelSpec
from ..errors import MissingDependencyError, ModelFileError

SPEECH_EXTRA = "pip install 'assistant[speech]'"


def require(module: str, what: str) -> None:
    """Fail with what to install when ``module`` cannot be imported (found without importing it)."""
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(f"{what} needs the Python package {module!r}; install it with {SPEECH_EXTRA}")


def package_member(spec: ModelSpec) -> Path | None:
    """The model inside an installed PyPI package named by one of the spec's sources."""
    for source in spec.sources:
        if source.kind != "pypi" or "member" not in source.fields:
            continue
        member: str = source.fields["member"]
        top = member.split("/", 1)[0]
        found = importlib.util.find_spec(top)
        if found is None or not found.submodule_search_locations:
            continue
        path = Path(next(iter(found.submodule_search_locations))).parent / member
        if path.exists():
            return path
    return None


def locate(spec: ModelSpec) -> Path:
    """The file (or folder, for CTranslate2 models) to load for a speech model."""
    from ..store import model_file

    path = package_member(spec)
    if path is not None:
        return path
    if spec.file_name:
        stored = model_file(spec)
        if stored.is_file():
            return stored
    packages = ", ".join(s.fields["package"] for s in spec.sources if s.kind == "pypi") or "its package"
    raise ModelFileError(f"the {spec.kind} model {spec.id} is not installed; install {packages} "
                         f"(all speech models: {SPEECH_EXTRA})")


def resolve(catalog: Catalog, kind: str, name: str | None) -> tuple[str, Path]:
    """A catalog id or a path given by the user, or the catalog's default for ``kind``."""
    if name and (Path(name).expanduser().exists() or "/" in name or name.endswith((".onnx", ".tflite"))):
        path = Path(name).expanduser()
        if not path.exists():
            raise ModelFileError(f"{kind} model {path} does not exist")
        return path.stem, path
    spec = catalog.get(name) if name else catalog.default_of(kind)
    if spec is None:
        raise ModelFileError(f"the catalog has no default {kind} model")
    return spec.id, locate(spec)
