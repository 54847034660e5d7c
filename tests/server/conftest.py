"""A real `assistant serve` on a loopback port, driven over HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ASSISTANT = shutil.which("assistant", path=str(Path(sys.executable).parent)) or "assistant"
MODEL = "smollm2-135m-instruct-q4_1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([ASSISTANT, "serve", "--port", str(self.port), "--model", MODEL, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={k: v for k, v in (env or os.environ).items()
                                          if not k.startswith("ASSISTANT_API_KEY")})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.proc.stdout.read()}")
            if self._healthy():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not become healthy in 120 s")

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:  # not listening yet
            return False

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=5).json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def server(local_models):
    s = Server("--context", "2048", "--slots", "4")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def guarded_server(local_models):
    """One slot, one queue place, an API key: for auth and overload tests."""
    s = Server("--context", "1024", "--slots", "1", "--max-queue", "1", "--api-key", "s3cret")
    yield s
    s.stop()
