"""Sizes as users type them."""

from __future__ import annotations

import pytest

from assistant.errors import InvalidInputError
from assistant.units import format_size, parse_size


@pytest.mark.parametrize("text, value", [
    ("5GiB", 5 * 2**30), ("5gib", 5 * 2**30), ("512MiB", 512 * 2**20), ("8GB", 8 * 10**9),
    ("1.5 GiB", int(1.5 * 2**30)), ("1000", 1000), ("2e9", 2 * 10**9), ("64k", 64_000),
])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "GiB", "5 parsecs", "-1GiB", "five"])
def test_parse_size_rejects(text):
    with pytest.raises(InvalidInputError, match="cannot read the size"):
        parse_size(text)


@pytest.mark.parametrize("value, text", [
    (512, "512 B"), (98_362_432, "93.8 MiB"), (5 * 2**30, "5.00 GiB"), (1000 * 2**20, "1000 MiB"),
    (42_520_395_584, "39.6 GiB"), (3 * 2**40, "3.00 TiB"),
])
def test_format_size(value, text):
    assert format_size(value) == text
