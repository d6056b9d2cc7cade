"""Unit tests for bouncer/mime.py: parameters (RFC 2045), RFC 2231, encoded words (RFC 2047),
transfer encodings, and broken structure read as text instead of refused."""
from __future__ import annotations

import base64

import pytest

from bouncer import mime


@pytest.mark.parametrize(("value", "expected"), [
    ('multipart/report; report-type=delivery-status; boundary="b=1;x"',
     ("multipart/report", {"report-type": "delivery-status", "boundary": "b=1;x"})),
    ("TEXT/Plain;Charset=ISO-8859-1", ("text/plain", {"charset": "ISO-8859-1"})),
    ('text/plain; name="say \\"hi\\".txt"', ("text/plain", {"name": 'say "hi".txt'})),
    ("message/rfc822", ("message/rfc822", {})),
    (None, ("text/plain", {})),
    ("nonsense", ("text/plain", {})),  # RFC 2045 §5.2: an unreadable type is text/plain
])
def test_content_type_and_its_parameters(value: str | None, expected: tuple[str, dict[str, str]]) -> None:
    assert mime.content_type(value) == expected


def test_rfc2231_continuations_charset_and_percent_encoding_are_joined_and_decoded() -> None:
    text = ("; filename*0*=utf-8'de'Pressemitteilung%20%C3%BCber; filename*1*=%20den%20Haushalt;"
            ' filename*2=".pdf"; title*=iso-8859-1\'\'K%FCndigung')
    assert mime.params(text) == {"filename": "Pressemitteilung über den Haushalt.pdf", "title": "Kündigung"}


def test_a_plain_parameter_wins_over_a_repeated_one() -> None:
    assert mime.params('; charset=utf-8; charset="latin-1"') == {"charset": "utf-8"}


def test_encoded_words_in_headers_are_decoded_across_folds_and_charsets() -> None:
    raw = (b"Subject: =?UTF-8?Q?Lesebest=C3=A4tigung:_PM?=\n =?ISO-8859-1?B?IGb8cg==?= Schulen\n"
           b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>\n\nText\n")
    mail = mime.parse(raw)
    assert mail.subject == "Lesebestätigung: PM für Schulen"
    assert mail.from_header == "Jürgen Müller <jm@example.de>" and mail.from_address == "jm@example.de"


def test_a_broken_encoded_word_stays_as_written() -> None:
    mail = mime.parse(b"Subject: =?utf-8?B?not base64?= ok\n\nx\n")
    assert mail.subject == "=?utf-8?B?not base64?= ok" and not mail.error


def test_base64_keeps_the_bytes_of_its_padded_last_quantum() -> None:
    for text in ("Wrocławiu", "Durand", "2027", "x"):
        encoded = base64.encodebytes(text.encode()).decode()
        mail = mime.parse(f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n{encoded}".encode())
        assert mail.body_text == text


def test_quoted_printable_soft_breaks_and_charset() -> None:
    mail = mime.parse(b"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"
                      b"Gr=FC=DFe aus dem B=FCro, eine lange Zei=\nle\n")
    assert mail.body_text.strip() == "Grüße aus dem Büro, eine lange Zeile"


def test_a_missing_closing_boundary_keeps_every_part_and_says_so() -> None:
    raw = (b'Content-Type: multipart/mixed; boundary="XY"\n\n--XY\nContent-Type: text/plain\n\nerster Teil\n'
           b"--XY\nContent-Type: text/plain\n\nzweiter Teil, abgeschnitten")
    mail = mime.parse(raw)
    assert [p.text.strip() for p in mail.parts] == ["erster Teil", "zweiter Teil, abgeschnitten"]
    assert mail.error and "not closed" in mail.error


def test_a_boundary_that_never_occurs_reads_the_body_as_text() -> None:
    mail = mime.parse(b'Content-Type: multipart/mixed; boundary="nowhere"\n\nHallo, nur Text.\n')
    assert "Hallo, nur Text." in mail.body_text


def test_a_multipart_without_boundary_parameter_reads_the_body_as_text() -> None:
    mail = mime.parse(b"Content-Type: multipart/report\n\nMail delivery failed: user unknown\n")
    assert "user unknown" in mail.body_text


def test_an_enclosed_message_is_parsed_and_its_text_is_not_the_mails_own() -> None:
    raw = (b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nmeine Frage\n'
           b"--b\nContent-Type: message/rfc822\n\nSubject: =?utf-8?q?Pr=C3=BCfung?=\nMessage-ID: <o@x.example>\n\n"
           b"Text des Originals\n--b--\n")
    mail = mime.parse(raw)
    assert mail.body_text.strip() == "meine Frage"
    assert mail.enclosed is not None and mail.enclosed.subject == "Prüfung" and mail.enclosed.message_id == "<o@x.example>"


def test_nothing_raises_on_garbage() -> None:
    for raw in (b"", b"\x00\xff" * 100, b"Content-Type: multipart/mixed; boundary=\n\n--\n--\n", b":" * 5000):
        mail = mime.parse(raw)
        assert isinstance(mail.body_text, str)
