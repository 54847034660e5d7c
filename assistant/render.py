"""Rich tables for the CLI's plain (non ``--json``) output."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .catalog import Catalog
from .hardware.spec import HardwareSpec
from .picker import Plan
from .units import format_size


def hardware_table(spec: HardwareSpec) -> Table:
    table = Table(title=spec.name, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("system", f"{spec.os} {spec.arch}")
    table.add_row("cpu", f"{spec.cpu.name or 'unknown'}: {spec.cpu.cores} usable cores")
    if spec.cpu.features:
        table.add_row("features", " ".join(spec.cpu.features))
    mem = format_size(spec.memory.total_bytes)
    if spec.memory.available_bytes is not None:
        mem += f" ({format_size(spec.memory.available_bytes)} available)"
    if spec.memory.bandwidth_bytes_per_s:
        mem += f", {spec.memory.bandwidth_bytes_per_s / 1e9:.0f} GB/s"
    table.add_row("memory", mem)
    if not spec.accelerators:
        table.add_row("accelerators", "none (llama.cpp runs on the CPU)")
    for acc in spec.accelerators:
        facts = [acc.kind]
        if acc.memory_bytes:
            facts.append(format_size(acc.memory_bytes))
        if acc.unified:
            facts.append("shares RAM")
        if acc.compute_capability:
            facts.append(f"sm {acc.compute_capability}")
        if acc.provider:
            facts.append(acc.provider)
        if acc.interface:
            facts.append(acc.interface)
        if acc.tops:
            facts.append(f"{acc.tops:g} TOPS")
        table.add_row("accelerator", f"{acc.name} ({', '.join(facts)})")
    if spec.power is not None:
        facts = [f"mode {spec.power.mode}"] if spec.power.mode else []
        if spec.power.temperature_c is not None:
            facts.append(f"hottest sensor {spec.power.temperature_c:g} C")
        if spec.power.throttled:
            facts.append("[bold red]thermally throttled[/]: expect lower speed")
        if facts:
            table.add_row("power", ", ".join(facts))
    return table


def plan_table(plan: Plan) -> Table:
    b = plan.budget
    title = f"{plan.hardware.name}: {format_size(b.memory_bytes)} for the LLM ({b.pool} memory)"
    table = Table(title=title, caption=b.explanation, title_justify="left", caption_justify="left")
    table.add_column("", width=1)
    table.add_column("model, and why")
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("context", justify="right", no_wrap=True)
    table.add_column("memory", justify="right", no_wrap=True)
    table.add_column("tok/s", justify="right", no_wrap=True)
    for c in plan.candidates:
        mark = "[bold green]>[/]" if c is plan.pick else ("[green]+[/]" if c.fits else "[red]-[/]")
        table.add_row(
            mark, f"{c.model.id}\n[dim]{c.reason}[/]", f"{c.model.parameters / 1e9:.2f}B",
            str(c.context_length) if c.context_length else "",
            format_size(c.estimate.required_bytes) if c.estimate else "",
            f"{c.tokens_per_s:.0f}" if c.tokens_per_s is not None else "",
        )
    return table


def models_table(catalog: Catalog, files: dict[str, Path]) -> Table:
    table = Table(title="model catalog", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("kind")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("installed")
    for m in catalog.models:
        table.add_row(m.id, m.kind, format_size(m.file_size), "yes" if m.id in files else "")
    return table


def doctor_table(report) -> Group:
    """Per stage: where it runs and why, then what was passed over and why."""
    title = f"{report.hardware.name}: {'planned, with the recommended extras' if report.planned else 'this machine'}"
    lines: list = [Text(title, style="bold")]
    for stage, d in report.stages.items():
        where = f"{d.runtime} on {d.device}" if d.runtime else "nothing runs it"
        lines.append(Text.assemble((f"{stage:<10}", "bold"), (where, "green" if d.runtime else "red"),
                                   f"  ({d.model})" if d.model else ""))
        lines.append(Text(f"{'':<10}{d.reason}"))
        lines += [Text(f"{'':<10}- not {c.runtime} on {c.device}: {c.why_not}", style="dim") for c in d.alternatives]
    if report.install:
        lines.append(Text("install:", style="bold"))
        lines += [Text(f"  {step}") for step in report.install]
    lines += [Text(f"warning: {w}", style="yellow") for w in report.warnings]
    return Group(*lines)
