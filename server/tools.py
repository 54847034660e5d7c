"""Function calling: tool schemas -> a grammar and a prompt, and generated text -> tool calls.

A model whose chat template knows `tools` gets them through the template; others get a system
message that lists the functions and the JSON shape of a call. Decoding is constrained by a grammar
built from the functions' JSON schemas, so a call always parses and its arguments always validate:
with tool_choice "required" or a named function the reply must be a call; with "auto" it is either
a call or prose that does not open with "{".
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from .errors import APIError


@dataclass(frozen=True)
class ToolPlan:
    functions: list[dict[str, Any]]  # [{"name", "description", "parameters"}]
    mode: str  # auto | required | named
    grammar: str | None


def plan_tools(tools: list[dict[str, Any]] | None, tool_choice: Any) -> ToolPlan | None:
    """None when no tool may be called (no tools, or tool_choice "none")."""
    if not tools or tool_choice == "none":
        return None
    functions = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(fn, dict) or not fn.get("name"):
            raise APIError(400, f"tools[{i}] must be {{'type': 'function', 'function': {{'name': ...}}}}",
                           param=f"tools[{i}]")
        functions.append({"name": fn["name"], "description": fn.get("description", ""),
                          "parameters": fn.get("parameters") or {"type": "object", "properties": {}}})
    names = [f["name"] for f in functions]
    if tool_choice in (None, "auto"):
        mode, allowed = "auto", functions
    elif tool_choice == "required":
        mode, allowed = "required", functions
    elif isinstance(tool_choice, dict) and (tool_choice.get("function") or {}).get("name"):
        wanted = tool_choice["function"]["name"]
        if wanted not in names:
            raise APIError(400, f"tool_choice names {wanted!r}, which is not among the tools", param="tool_choice")
        mode, allowed = "named", [f for f in functions if f["name"] == wanted]
    else:
        raise APIError(400, "tool_choice must be 'none', 'auto', 'required' or {'type': 'function', "
                            "'function': {'name': ...}}", param="tool_choice")
    grammar = call_grammar(allowed) if mode != "auto" else auto_grammar(allowed)
    return ToolPlan(functions, mode, grammar)


def call_grammar(functions: list[dict[str, Any]]) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    alternatives = [{"type": "object", "properties": {"name": {"const": f["name"]}, "arguments": f["parameters"]},
                     "required": ["name", "arguments"]} for f in functions]
    schema = alternatives[0] if len(alternatives) == 1 else {"oneOf": alternatives}
    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # noqa: BLE001 - the converter raises plain exceptions
        raise APIError(400, f"cannot build a grammar from these tool schemas: {exc}", param="tools") from None


def auto_grammar(functions: list[dict[str, Any]]) -> str:
    """Either prose (anything not opening with "{" or a blank) or a call that validates."""
    grammar = call_grammar(functions)
    lines = grammar.splitlines()
    renamed = ["call ::=" + line[len("root ::="):] if line.startswith("root ::=") else line for line in lines]
    return "\n".join(["root ::= call | prose", "prose ::= [^{ \\t\\n\\r] .*", *renamed]) + "\n"


def system_prompt(plan: ToolPlan) -> str:
    listing = json.dumps(plan.functions, ensure_ascii=False)
    how = 'reply with only a JSON object {"name": <function name>, "arguments": {<arguments>}}'
    if plan.mode == "auto":
        return (f"You can call these functions: {listing}\nIf one of them is needed to answer, {how}. "
                "Otherwise answer normally.")
    return f"You can call these functions: {listing}\nCall one now: {how}."


def messages_for_template(messages: list[dict[str, Any]], plan: ToolPlan | None, template_knows_tools: bool
                          ) -> list[dict[str, Any]]:
    """Fold tool calls and results into plain messages for templates that know nothing of tools,
    and put the function list in the system message."""
    if template_knows_tools:
        return messages
    out = []
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            calls = [{"name": c["function"]["name"], "arguments": _loads(c["function"].get("arguments"))}
                     for c in m["tool_calls"]]
            out.append({"role": "assistant", "content": json.dumps(calls[0] if len(calls) == 1 else calls)})
        elif m["role"] == "tool":
            out.append({"role": "user", "content": f"[function result] {m.get('content') or ''}"})
        else:
            out.append({k: v for k, v in m.items() if k in ("role", "content")})
    if plan is not None:
        note = system_prompt(plan)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{note}"}
        else:
            out.insert(0, {"role": "system", "content": note})
    return out


def parse_call(text: str, plan: ToolPlan) -> list[dict[str, Any]] | None:
    """The tool calls in a reply, in OpenAI's shape, or None when the reply is prose."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return None
    try:
        doc = json.loads(stripped)
    except json.JSONDecodeError:
        return None
    names = {f["name"] for f in plan.functions}
    if not isinstance(doc, dict) or doc.get("name") not in names:
        return None
    arguments = doc.get("arguments", {})
    return [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
             "function": {"name": doc["name"], "arguments": json.dumps(arguments, ensure_ascii=False)}}]


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
