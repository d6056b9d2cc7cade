"""Detectors: one module per kind of evidence, each declaring how far its findings can be trusted.

A detector is a pure function `detect(mail) -> Verdict | None` over the `Mail` model (no
Flask, database or network) that answers with a Verdict carrying its own evidence. Each
module exports `DETECTOR`, which names it and declares its `Trust`; `bouncer.classify`
combines findings by that declaration, never by detector names. Shared reading helpers
live outside the detectors (`bouncer.fields`, `bouncer.owntext`, `filters._smtp`), so no
detector depends on another.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from bouncer.mail import Mail
from bouncer.verdict import Verdict


class Trust(IntEnum):
    """How far a finding can be trusted, by what it rests on."""

    WORDING = 1  # free text: people write the same words; never closes alone, any sign of a person overrules it
    HEADER = 2  # headers and sender a responder sets, but which a person's mail can carry too (ticket tools)
    REPORT = 3  # a machine-readable report (DSN, MDN, ARF part, SES JSON): decides when the mail is the report


@dataclass(frozen=True)
class Detector:
    name: str
    trust: Trust
    detect: Callable[[Mail], Verdict | None]
