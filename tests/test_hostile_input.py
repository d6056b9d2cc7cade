"""Every rule over mail content is linear: 100 KB adversarial header and body lines cost each detector
about as much as ordinary mail (a quadratic regex took 2.4 s on a 16 KB From and minutes at 100 KB).

The bound below only catches a hang; bench/redos.py measures the times.
"""
from __future__ import annotations

import time

import pytest

from bouncer.mail import HEADER_CAP, MAX_HEADERS, addresses
from bouncer.mime import parse
from bouncer.subjects import strip_prefixes
from hostile import PLACES, UNITS, article_mail, article_payload, detector_calls, raw_mail, run

HANG = 5.0  # seconds: generous for a shared, loaded machine; a quadratic rule takes minutes here


@pytest.mark.parametrize("unit", UNITS)
def test_every_detector_reads_100_kb_adversarial_lines_without_hanging(unit: str) -> None:
    line = run(unit)
    for place in PLACES:
        started = time.perf_counter()
        mail = parse(raw_mail(line, place))
        assert time.perf_counter() - started < HANG, f"parse, {place}"
        for name, call in detector_calls().items():
            started = time.perf_counter()
            call(mail)
            assert time.perf_counter() - started < HANG, f"{name}, {unit!r} in {place}"


@pytest.mark.parametrize("unit", UNITS)
def test_every_detector_reads_an_article_with_100_kb_adversarial_fields_without_hanging(unit: str) -> None:
    payload = article_payload(run(unit))
    mail = article_mail(payload["Ticket"]["Article"], payload["Ticket"])
    for name, call in detector_calls().items():
        started = time.perf_counter()
        call(mail)
        assert time.perf_counter() - started < HANG, f"{name}, {unit!r}"


def test_header_values_are_capped_before_any_rule_reads_them() -> None:
    mail = parse(b"From: " + b"a" * 200_000 + b"@example.org\nSubject: " + b"x" * 200_000 + b"\n\nbody\n")
    assert len(mail.from_header) == HEADER_CAP and len(mail.subject) == HEADER_CAP
    article = article_payload("y" * 200_000)["Ticket"]["Article"]
    assert len(article_mail(article).header("Subject")) == HEADER_CAP


def test_a_huge_number_of_header_fields_is_cut() -> None:
    mail = parse(b"".join(b"X-H%d: v\n" % i for i in range(50_000)) + b"Subject: late\n\nbody\n")
    assert len(mail.headers) == MAX_HEADERS


def test_address_extraction_is_unchanged_by_the_linear_pattern() -> None:
    text = ("Jörg <J.Mueller@Example.ORG>, smtp=bob@x.example; rfc822:carol@y.example 'dave@z.example' "
            "x@y@host.example mail@localhost 田中@example.jp user@例え.jp")
    assert addresses(text) == ["j.mueller@example.org", "bob@x.example", "carol@y.example", "dave@z.example",
                               "y@host.example", "田中@example.jp"]


@pytest.mark.parametrize(("subject", "key"), [
    ("AW: Abwesenheitsnotiz: [Ticket#2026113010000012] Newsletter Dezember", "Newsletter Dezember"),
    ("Re: RE:  Einladung [Ticket#1] ", "Einladung"),
    ("[Ticket#1] Re: Hallo [Ticket#3]", "Hallo"),
    ("Undeliverable: Re: Vorstand", "Vorstand"),
    ("Re: " * 30_000 + "Wahlkampf", "Wahlkampf"),
])
def test_subject_prefixes_and_ticket_suffixes_are_stripped(subject: str, key: str) -> None:
    assert strip_prefixes(subject) == key
