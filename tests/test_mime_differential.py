"""Differential test: our bounded MIME reader agrees with the standard library's `email` package.

For every fixture mail, `bouncer.mime.parse` must yield the same decoded headers and the same
readable text as `email.message_from_bytes(raw, policy=email.policy.default)`: the stdlib is
slow for our target but carefully follows RFC 5322, 2045–2047 and 2231, so it is the reference.
Whitespace is compared collapsed (folding and line endings are presentation, not content), and
our decoded header values are rendered through the stdlib's header classes (address quoting and
comments are presentation too).
"""
from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from bouncer import mime
from bouncer.mail import Mail, html_to_text
from corpus import FIXTURES

MAILS = sorted(FIXTURES.glob("*/*.eml"))
HEADERS = ("Subject", "From", "To", "Message-ID", "In-Reply-To", "Auto-Submitted", "Date", "Return-Path")
# Written with a raw ISO-8859-1 Subject on purpose: the stdlib replaces its bytes, we decode them as Latin-1.
RAW_8BIT = {"raw-8bit-latin1-subject-kuendigung"}


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _stdlib_text(message: EmailMessage) -> str:
    """The readable text the way `Mail.body_text` defines it, read with the stdlib: text/plain parts
    outside enclosed messages (not attached files), else the HTML parts without tags."""
    plain: list[str] = []
    html: list[str] = []

    def walk(part: EmailMessage) -> None:
        if part.get_content_maintype() == "message":
            return  # an enclosure or a report's field blocks: not the mail's own text
        if part.is_multipart():
            for child in part.iter_parts():
                walk(child)  # type: ignore[arg-type]
            return
        attached = part.get_content_disposition() == "attachment" and part.get_filename()
        if part.get_content_type() == "text/plain" and not attached:
            plain.append(part.get_content())
        elif part.get_content_type() == "text/html" and not attached:
            html.append(part.get_content())

    walk(message)
    return "\n".join(plain) if plain else html_to_text("\n".join(html))


@pytest.mark.parametrize("path", MAILS, ids=[f"{m.parent.name}/{m.stem}" for m in MAILS])
def test_fixture_parses_to_the_same_headers_and_text_as_the_stdlib(path: Path) -> None:
    raw = path.read_bytes()
    ours: Mail = mime.parse(raw)
    reference = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(reference, EmailMessage)
    assert not ours.error
    for name in HEADERS:
        if path.stem in RAW_8BIT and name == "Subject":
            continue
        theirs = reference.get(name)
        mine = ours.header(name)
        if theirs is None or not mine:
            assert not mine and theirs is None, name
            continue
        # Read our decoded value with the stdlib's own header class: same rendering of addresses and dates.
        assert _collapse(str(email.policy.default.header_factory(name, mine))) == _collapse(str(theirs)), name
    assert ours.content_type == reference.get_content_type()
    assert _collapse(ours.body_text) == _collapse(_stdlib_text(reference))
