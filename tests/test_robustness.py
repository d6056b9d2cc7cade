"""Hostile and broken input: every one ends in a verdict (human with an error where unreadable), never a crash.

Timings for these inputs are measured by bench/classify.py, not asserted here.
"""
from __future__ import annotations

import os
import tracemalloc

import pytest

from bouncer.classify import classify_bytes
from bouncer.mime import MAX_PARTS, parse

BIG_ATTACHMENT = (b"From: a@b.example\nSubject: Antragsbuch\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=x\n\n"
                  b"--x\nContent-Type: text/plain\n\nAnbei das Antragsbuch.\n--x\nContent-Type: application/pdf\n"
                  b"Content-Transfer-Encoding: base64\n\n" + b"QUJD" * (25 * 1024 * 1024 // 4) + b"\n--x--\n")

CASES = {
    "empty": b"",
    "binary_garbage": bytes(range(256)) * 400,
    "random_bytes": os.urandom(50_000),
    "truncated_mime": b"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
                      b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@b.exa",
    "unknown_charset": b"Subject: =?x-unknown?q?Hallo?=\nContent-Type: text/plain; charset=x-unknown\n\n\xe4\xf6\xfc text",
    "eight_bit_headers": "From: Jörg Müller <j@x.example>\nSubject: Änderung meiner Adresse\n\nHallo".encode("latin-1"),
    "nested_1000_rfc822": b"Content-Type: message/rfc822\n\n" * 1000 + b"Subject: deep\n\nbody\n",
    "nested_1000_multipart": b"".join(f"Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n".encode()
                                      for i in range(1000)),
    "headers_only": b"From: x@y.example\nSubject: nur Kopf",
    "no_headers": b"\n\njust a body",
    "attachment_25mb": BIG_ATTACHMENT,
}


@pytest.mark.parametrize("raw", CASES.values(), ids=CASES.keys())
def test_hostile_input_gets_a_verdict_and_never_a_machine_one_without_evidence(raw: bytes) -> None:
    verdict = classify_bytes(raw)
    assert verdict.category in ("human", "bounce", "auto_reply", "read_receipt", "feedback_report")
    assert verdict.evidence
    if verdict.is_machine:
        assert verdict.confidence < 0.85, "broken input must never be confident enough to close a ticket"


def test_unreadable_input_is_human_with_an_error() -> None:
    verdict = classify_bytes(b"")
    assert verdict.category == "human"
    assert verdict.error


def test_a_25_mb_attachment_is_sized_not_decoded() -> None:
    tracemalloc.start()
    mail = parse(BIG_ATTACHMENT)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [p.content_type for p in mail.parts] == ["text/plain", "application/pdf"]
    assert mail.parts[1].text == "" and mail.size == len(BIG_ATTACHMENT)
    assert "bytes read" in (mail.error or "")
    assert peak < 16 * 1024 * 1024, "only the top of the mail is read, the attachment is never decoded"


def test_deep_nesting_is_cut_off_and_reported() -> None:
    mail = parse(CASES["nested_1000_rfc822"])
    depth, node = 0, mail
    while node.enclosed is not None:
        depth, node = depth + 1, node.enclosed
    assert depth <= 4
    assert "deeper" in (mail.error or "")


def test_part_count_is_bounded() -> None:
    many = b"Content-Type: multipart/mixed; boundary=z\n\n" + b"--z\nContent-Type: text/plain\n\nx\n" * 5000 + b"--z--\n"
    mail = parse(many)
    assert len(mail.parts) < MAX_PARTS
    assert "MIME parts" in (mail.error or "")
