"""The quoted header block above a returned or quoted mail is read by the field names mail clients and
NDR generators really write (Outlook/Exchange, Thunderbird, Apple Mail, Lotus Notes; German first), each
value ending at the next known field or the line end."""
from __future__ import annotations

import pytest

from filters._smtp import quoted_headers

SUBJECT = "PM: Ehrenamtspreis 2026 verliehen"

# (client and language, quoted block, expected fields)
BLOCKS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("exchange-ndr-de", f"      Betreff:  {SUBJECT}\n      Gesendet am:      24.11.2026 10:04\n",
     {"subject": SUBJECT, "date": "24.11.2026 10:04"}),
    ("outlook-de", "Von: Pressestelle <presse@gruene-lv.example>\nGesendet: Dienstag, 24. November 2026 10:04\n"
                   f"An: Redaktion <redaktion@zeitung.example>\nCc: Vorstand <vorstand@gruene-lv.example>\nBetreff: {SUBJECT}\n",
     {"from": "Pressestelle <presse@gruene-lv.example>", "date": "Dienstag, 24. November 2026 10:04",
      "to": "Redaktion <redaktion@zeitung.example>", "cc": "Vorstand <vorstand@gruene-lv.example>", "subject": SUBJECT}),
    ("outlook-de-one-line", f"Von: Pressestelle <presse@gruene-lv.example> Gesendet: Dienstag, 24. November 2026 10:04 "
                            f"An: redaktion@zeitung.example Betreff: {SUBJECT}\n",
     {"from": "Pressestelle <presse@gruene-lv.example>", "date": "Dienstag, 24. November 2026 10:04",
      "to": "redaktion@zeitung.example", "subject": SUBJECT}),
    ("thunderbird-de", f"-------- Weitergeleitete Nachricht --------\nBetreff: \t{SUBJECT}\n"
                       "Datum: \tTue, 24 Nov 2026 10:04:00 +0100\nVon: \tpresse@gruene-lv.example\nAn: \ta@b.example\n",
     {"subject": SUBJECT, "date": "Tue, 24 Nov 2026 10:04:00 +0100", "from": "presse@gruene-lv.example",
      "to": "a@b.example"}),
    ("apple-mail-de", f"> Von: presse@gruene-lv.example\n> Betreff: {SUBJECT}\n> Datum: 24. November 2026 um 10:04:00 MEZ\n"
                      "> An: a@b.example\n> Antwort an: presse@gruene-lv.example\n",
     {"from": "presse@gruene-lv.example", "subject": SUBJECT, "date": "24. November 2026 um 10:04:00 MEZ",
      "to": "a@b.example"}),
    ("lotus-notes-de", f"Von:\tPressestelle/LV\nAn:\tRedaktion/Zeitung\nDatum:\t24.11.2026 10:04\nBetreff:\t{SUBJECT}\n"
                       "Gesendet von:\tMitarbeiter/LV\n",
     {"from": "Pressestelle/LV", "to": "Redaktion/Zeitung", "date": "24.11.2026 10:04", "subject": SUBJECT}),
    ("exchange-ndr-en", f"      Subject:  {SUBJECT}\n      Sent:     11/24/2026 10:04 AM\n",
     {"subject": SUBJECT, "date": "11/24/2026 10:04 AM"}),
    ("outlook-en", f"From: Press <presse@gruene-lv.example>\nSent: Tuesday, November 24, 2026 10:04 AM\nTo: x@y.example\n"
                   f"Subject: {SUBJECT}\n",
     {"from": "Press <presse@gruene-lv.example>", "date": "Tuesday, November 24, 2026 10:04 AM", "to": "x@y.example",
      "subject": SUBJECT}),
    ("outlook-fr", f"De : Presse <presse@gruene-lv.example>\nEnvoyé : mardi 24 novembre 2026 10:04\nÀ : x@y.example\n"
                   f"Objet : {SUBJECT}\n",
     {"from": "Presse <presse@gruene-lv.example>", "date": "mardi 24 novembre 2026 10:04", "to": "x@y.example",
      "subject": SUBJECT}),
    ("outlook-it", f"Da: presse@gruene-lv.example\nInviato: martedì 24 novembre 2026 10:04\nA: x@y.example\nOggetto: {SUBJECT}\n",
     {"from": "presse@gruene-lv.example", "date": "martedì 24 novembre 2026 10:04", "to": "x@y.example",
      "subject": SUBJECT}),
    ("outlook-nl", f"Van: presse@gruene-lv.example\nVerzonden: dinsdag 24 november 2026 10:04\nAan: x@y.example\n"
                   f"Onderwerp: {SUBJECT}\n",
     {"from": "presse@gruene-lv.example", "date": "dinsdag 24 november 2026 10:04", "to": "x@y.example",
      "subject": SUBJECT}),
    ("outlook-es", f"De: presse@gruene-lv.example\nEnviado el: martes, 24 de noviembre de 2026 10:04\nPara: x@y.example\n"
                   f"Asunto: {SUBJECT}\n",
     {"from": "presse@gruene-lv.example", "date": "martes, 24 de noviembre de 2026 10:04", "to": "x@y.example",
      "subject": SUBJECT}),
    ("wrapped-subject", f"Betreff: {SUBJECT}\n   und die Preisträger\nDatum: 24.11.2026\n",
     {"subject": f"{SUBJECT} und die Preisträger", "date": "24.11.2026"}),
    ("encoded-word", "Subject: =?utf-8?q?Pr=C3=BCfung?=\n", {"subject": "Prüfung"}),
)


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in BLOCKS], ids=[n for n, _, _ in BLOCKS])
def test_quoted_header_block_fields_end_at_the_next_known_field(text: str, expected: dict[str, str]) -> None:
    found = quoted_headers("Ihre Nachricht hat einige oder alle Empfänger nicht erreicht.\n\n" + text + "\nText\n")
    assert {name: found.get(name) for name in expected} == expected


@pytest.mark.parametrize("subject", ["Plan A: neu", "Re: AW: WG: Einladung", "Antwort: Ihre Anfrage", "Termin: 10:04"])
def test_a_subject_is_not_cut_at_words_that_are_not_field_names(subject: str) -> None:
    assert quoted_headers(f"Betreff: {subject}\nDatum: 24.11.2026\n") == {"subject": subject, "date": "24.11.2026"}


def test_the_first_block_wins_and_an_empty_field_is_not_a_value() -> None:
    text = "Betreff:\nGesendet am: 24.11.2026\n\n> Subject: older mail\n> Date: 1.1.2026\n"
    assert quoted_headers(text) == {"date": "24.11.2026", "subject": "older mail"}
