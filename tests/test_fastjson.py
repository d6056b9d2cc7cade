"""JSON on the webhook's path reads and writes what the standard json module does, only faster."""
from __future__ import annotations

import json
import pytest

from bouncer import fastjson


@pytest.mark.parametrize("raw", [b'{"Confidence": NaN}', b'{"a": [1, {"b": null}]}', b'{"s": "\\ud83d\\ude00"}'],
                         ids=["nan", "plain", "surrogate-pair"])
def test_body_is_read_as_the_standard_json_module_reads_it(raw: bytes) -> None:
    parsed = fastjson.loads(raw)
    assert json.dumps(parsed) == json.dumps(json.loads(raw))


def test_a_lone_surrogate_escape_is_read_as_the_replacement_character_so_it_can_be_stored() -> None:
    parsed = fastjson.loads(b'{"Subject": "\\ud83d broken", "\\udc00": ["\\ud800"]}')
    assert parsed == {"Subject": "\ufffd broken", "\ufffd": ["\ufffd"]}


@pytest.mark.parametrize("raw", [b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000,
                                 b'{"x": NaN, "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"])
def test_json_nested_thousands_deep_is_malformed(raw: bytes) -> None:
    with pytest.raises(ValueError, match="nested too deep"):
        fastjson.loads(raw)


def test_integer_beyond_64_bits_is_read_as_a_float_so_no_id_check_takes_it() -> None:
    assert isinstance(fastjson.loads(b'{"TicketID": 123456789012345678901234567890}')["TicketID"], float)


def test_invalid_json_raises_value_error_like_the_standard_module() -> None:
    with pytest.raises(ValueError):
        fastjson.loads(b'{"Event": ')


@pytest.mark.parametrize("value", [
    {"b": "Abwesenheitsnotiz – außer Haus", "a": [1, 2.5, None, True]},
    {"huge": 2 ** 70, "z": 1},
    {"lone": "\ud83d", "a": 1},
], ids=["umlauts", "big-int", "lone-surrogate"])
def test_written_json_reads_back_to_the_same_value_with_keys_sorted_when_asked(value: dict) -> None:
    text = fastjson.dumps(value, sort_keys=True)
    assert json.loads(text) == value
    assert list(json.loads(text)) == sorted(value)
    assert "\\u00df" not in text and ", " not in text  # UTF-8, compact


class Opaque:
    def __str__(self) -> str:
        return "opaque"


def test_default_converts_what_json_has_no_type_for() -> None:
    assert fastjson.dumps({"thing": Opaque()}, default=str) == '{"thing":"opaque"}'
    with pytest.raises(TypeError):
        fastjson.dumps({"thing": Opaque()})
