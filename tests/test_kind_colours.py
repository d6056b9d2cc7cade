"""Every kind has its words and its colour, the same on every page and in the charts."""
from __future__ import annotations

import re

import pytest

from bouncer.vocab import KINDS
from bouncer.web.charts import COLOURS
from bouncer.web.labels import LABELS
from corpus import REPO

CSS = (REPO / "bouncer" / "static" / "style.css").read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_heading_and_a_name(kind: str) -> None:
    assert kind in LABELS["kind_heading"] and kind in LABELS["kind"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_the_charts_colour_in_the_stylesheet(kind: str) -> None:
    variable = re.search(rf"--k-{kind}:\s*(#[0-9a-f]{{6}})", CSS)
    assert variable is not None and variable.group(1) == COLOURS[kind]
    assert re.search(rf"\.k-{kind}\s*\{{\s*--k:\s*var\(--k-{kind}\)", CSS)
