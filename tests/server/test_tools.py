"""Function-calling helpers (pure): plans, grammars, folding messages, parsing replies."""

from __future__ import annotations

import json

import pytest

from server import tools
from server.errors import APIError

FN = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def test_no_tools_or_none_means_no_plan():
    assert tools.plan_tools(None, None) is None
    assert tools.plan_tools([FN], "none") is None


@pytest.mark.parametrize("choice, mode", [(None, "auto"), ("auto", "auto"), ("required", "required"),
                                          ({"type": "function", "function": {"name": "get_weather"}}, "named")])
def test_modes_and_grammars(choice, mode):
    plan = tools.plan_tools([FN], choice)
    assert plan.mode == mode
    assert any(line.startswith("root ::=") for line in plan.grammar.splitlines())
    assert '"\\"get_weather\\""' in plan.grammar
    assert ("prose ::=" in plan.grammar) == (mode == "auto")


@pytest.mark.parametrize("bad, choice", [([{"type": "function"}], "auto"), ([FN], "sometimes"),
                                         ([FN], {"type": "function", "function": {"name": "other"}})])
def test_bad_tools_are_400(bad, choice):
    with pytest.raises(APIError) as info:
        tools.plan_tools(bad, choice)
    assert info.value.status == 400


def test_parse_call():
    plan = tools.plan_tools([FN], "auto")
    [call] = tools.parse_call(' {"name": "get_weather", "arguments": {"city": "Paris"}}', plan)
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert tools.parse_call("It is sunny.", plan) is None
    assert tools.parse_call('{"name": "unknown", "arguments": {}}', plan) is None
    assert tools.parse_call('{"name": "get_weather", "argu', plan) is None  # cut off by max_tokens


def test_messages_are_folded_for_templates_without_tools():
    plan = tools.plan_tools([FN], "auto")
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "21 C"}]
    folded = tools.messages_for_template(messages, plan, template_knows_tools=False)
    assert folded[0]["role"] == "system" and "get_weather" in folded[0]["content"] and "Be brief." in folded[0]["content"]
    assert json.loads(folded[2]["content"]) == {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert folded[3] == {"role": "user", "content": "[function result] 21 C"}
    assert tools.messages_for_template(messages, plan, template_knows_tools=True) == messages
