"""Detectors: one module per kind of evidence, each a pure function `detect(mail) -> Verdict | None`.

A detector reads only the `Mail` model (no Flask, database or network) and answers
with a Verdict that carries its own evidence, or None when it has nothing to say.
`bouncer.classify` runs them in order and combines their answers with the human veto.
"""
from __future__ import annotations

from collections.abc import Callable

from bouncer.mail import Mail
from bouncer.verdict import Verdict

Detector = Callable[[Mail], Verdict | None]
