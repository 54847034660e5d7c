"""The app before its model is ready, and routes it does not have (in-process, no model needed)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from server.app import EngineHolder, create_app

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_loading_is_503_with_retry_after():
    client = TestClient(create_app(EngineHolder(model_id="m")))
    health = client.get("/health")
    assert health.status_code == 503 and health.json()["status"] == "loading"
    r = client.post("/v1/chat/completions", json=BODY)
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert "loading" in r.json()["error"]["message"]


def test_installed_models_are_listed_but_only_the_loaded_one_answers():
    client = TestClient(create_app(EngineHolder(model_id="m", installed=["m", "other"])))
    data = client.get("/v1/models").json()["data"]
    assert [(d["id"], d["loaded"]) for d in data] == [("m", True), ("other", False)]
    assert client.get("/v1/models/other").json()["loaded"] is False
    r = client.post("/v1/chat/completions", json={**BODY, "model": "other"})
    assert r.status_code == 404 and "--model other" in r.json()["error"]["message"]
    assert client.get("/v1/models/nope").status_code == 404


def test_failed_load_is_reported():
    holder = EngineHolder(model_id="m")
    holder.error = "model file is corrupt"
    client = TestClient(create_app(holder))
    assert client.get("/health").json() == {"status": "error", "error": "model file is corrupt"}
    r = client.post("/v1/chat/completions", json=BODY)
    assert r.status_code == 503 and "corrupt" in r.json()["error"]["message"]


def test_unknown_routes_are_openai_shaped_404s():
    client = TestClient(create_app(EngineHolder(model_id="m")))
    r = client.post("/v1/images/generations", json={"prompt": "x"})
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "not_found_error"


def test_embeddings_say_they_are_not_available():
    client = TestClient(create_app(EngineHolder(model_id="m")))
    r = client.post("/v1/embeddings", json={"model": "m", "input": "x"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "embeddings_not_supported"


def test_cors_is_off_unless_configured():
    from assistant.settings import ServeSettings

    origin = {"Origin": "http://localhost:3000"}
    plain = TestClient(create_app(EngineHolder(model_id="m"))).get("/v1/models", headers=origin)
    assert "access-control-allow-origin" not in plain.headers
    allowed = TestClient(create_app(EngineHolder(model_id="m"), ServeSettings(cors_origin=["http://localhost:3000"])))
    assert allowed.get("/v1/models", headers=origin).headers["access-control-allow-origin"] == "http://localhost:3000"
    preflight = allowed.options("/v1/chat/completions", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200


def test_chunked_body_over_the_limit_is_413():
    from assistant.settings import ServeSettings

    client = TestClient(create_app(EngineHolder(model_id="m"), ServeSettings(max_body_bytes=1000)))

    def chunks():
        for _ in range(10):
            yield b"x" * 200

    r = client.post("/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
