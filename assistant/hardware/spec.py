"""The hardware spec: what one device offers (the ``assistant.hardware/1`` document).

Sizes are bytes. Facts that are unknown are ``None`` and left out of the document, never guessed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import InvalidInputError

SCHEMA_ID = "assistant.hardware/1"

AcceleratorKind = Literal["cuda", "metal", "ane", "npu", "edgetpu", "vulkan", "rocm"]


@dataclass
class Cpu:
    cores: int
    name: str | None = None
    features: list[str] = field(default_factory=list)


@dataclass
class Memory:
    total_bytes: int
    available_bytes: int | None = None
    # Peak memory bandwidth, when known for the device (see bandwidth.py); drives speed estimates.
    bandwidth_bytes_per_s: int | None = None


@dataclass
class Accelerator:
    kind: str
    name: str
    memory_bytes: int | None = None
    unified: bool | None = None
    compute_capability: str | None = None
    provider: str | None = None
    interface: str | None = None
    tops: float | None = None
    bandwidth_bytes_per_s: int | None = None


@dataclass
class Power:
    mode: str | None = None
    throttled: bool | None = None
    temperature_c: float | None = None


@dataclass
class HardwareSpec:
    name: str
    os: str
    arch: str
    cpu: Cpu
    memory: Memory
    accelerators: list[Accelerator] = field(default_factory=list)
    power: Power | None = None

    def accelerators_of(self, kind: str) -> list[Accelerator]:
        return [a for a in self.accelerators if a.kind == kind]

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"schema": SCHEMA_ID}
        doc.update(_drop_none(asdict(self)))
        if not doc.get("power"):
            doc.pop("power", None)
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_document(), indent=2)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "HardwareSpec":
        if doc.get("schema") != SCHEMA_ID:
            raise InvalidInputError(
                f"not a hardware spec: expected \"schema\": \"{SCHEMA_ID}\" (make one with `assistant hw --json`)"
            )
        try:
            cpu = doc["cpu"]
            mem = doc["memory"]
            return cls(
                name=str(doc["name"]),
                os=str(doc["os"]),
                arch=str(doc["arch"]),
                cpu=Cpu(cores=int(cpu["cores"]), name=cpu.get("name"), features=list(cpu.get("features", []))),
                memory=Memory(
                    total_bytes=int(mem["total_bytes"]),
                    available_bytes=_opt_int(mem.get("available_bytes")),
                    bandwidth_bytes_per_s=_opt_int(mem.get("bandwidth_bytes_per_s")),
                ),
                accelerators=[Accelerator(**_known(a, Accelerator)) for a in doc.get("accelerators", [])],
                power=Power(**_known(doc["power"], Power)) if doc.get("power") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"the hardware spec is incomplete or malformed ({exc!r}); compare it with `assistant hw --json`") from exc


def load_spec(path: str | Path) -> HardwareSpec:
    """Read a spec file given with ``--hardware``."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise InvalidInputError(f"hardware spec {p} does not exist; make one with `assistant hw --json > {p.name}`") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read hardware spec {p}: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"hardware spec {p} is not a JSON object")
    return HardwareSpec.from_document(doc)


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _known(d: dict[str, Any], klass: type) -> dict[str, Any]:
    names = set(klass.__dataclass_fields__)
    return {k: v for k, v in d.items() if k in names}


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
