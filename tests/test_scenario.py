"""The generated press week: every mail, raw and as Znuny posts it, gets the verdict the scenario says."""
from __future__ import annotations

import pytest

from bouncer.article import from_article
from bouncer.classify import classify, classify_bytes
from bouncer.mail import Mail
from bouncer.subjects import has_prefix, has_ticket_hook, strip_prefixes
from bouncer.znuny import parse_request
from scenario import MEMBER_LETTER, PRESS_RELEASE, SECOND_RELEASE, Reaction, invoker_body, press_week

WEEK = press_week()


def _payload_mail(reaction: Reaction, number: int) -> Mail:
    ticket, article = parse_request(invoker_body(reaction.raw(), 900 + number, 9000 + number))
    return from_article(article, ticket)


@pytest.mark.parametrize("number", range(len(WEEK.reactions)),
                         ids=[f"{r.mailing}-{r.label}-{i}" for i, r in enumerate(WEEK.reactions)])
def test_every_generated_mail_gets_its_category_raw_and_as_znuny_posts_it(number: int) -> None:
    reaction = WEEK.reactions[number]
    for verdict in (classify_bytes(reaction.raw()), classify(_payload_mail(reaction, number))):
        assert verdict.category == reaction.category, verdict.evidence
        if reaction.bounce_type:
            assert verdict.bounce_type == reaction.bounce_type
            assert reaction.address in verdict.recipients


def test_the_week_has_three_mailings_and_every_format() -> None:
    assert set(WEEK.mailings) == {PRESS_RELEASE, MEMBER_LETTER, SECOND_RELEASE}
    assert len(WEEK.mailings[PRESS_RELEASE].recipients) >= 200
    labels = {r.label for r in WEEK.of(PRESS_RELEASE)}
    assert {"dsn-rfc822", "dsn-rfc822-headers", "exim-text-quoted", "exchange-unzustellbar-subject-only",
            "ooo-in-reply-to", "ooo-subject-only", "ooo-quoted", "ticket-ack", "mdn", "gelesen-subject", "arf",
            "person-in-reply-to", "person-quoted", "person-opt-out"} <= labels
    assert {r.label for r in WEEK.of(None)} == {"ooo-to-ticket-answer", "dsn-to-ticket-answer", "ooo-no-original"}


@pytest.mark.parametrize(("subject", "stripped"), [
    ("Out of Office / Abwesenheit: PM: Klimaplan", "PM: Klimaplan"),
    ("Ihre Nachricht an das Landesfunkhaus: PM: Klimaplan", "PM: Klimaplan"),
    ("AW: Automatische Antwort: WG: PM: Klimaplan", "PM: Klimaplan"),
    ("Unzustellbar: Mitgliederbrief Dezember", "Mitgliederbrief Dezember"),
    ("RE[2]: Lu : PM: Klimaplan", "PM: Klimaplan"),
    ("Réponse automatique : PM 1", "PM 1"),
    ("[EXTERN] Gelesen: PM: Klimaplan [Ticket#2026120710000042]", "PM: Klimaplan"),
    ("[Ticket#2026120710000042] Eingangsbestätigung: PM 112/2026", "PM 112/2026"),
    ("Risposta automatica: Newsletter", "Newsletter"),
    ("Undelivered Mail Returned to Sender", "Undelivered Mail Returned to Sender"),
    ("Abwesend bis Montag", "Abwesend bis Montag"),
    ("Return Receipt (displayed) - PM: Klimaplan", "PM: Klimaplan"),
    ("Empfangsbestätigung (angezeigt) - PM: Klimaplan", "PM: Klimaplan"),
    ("Lesebestätigung: PM: Klimaplan", "PM: Klimaplan"),
    ("Ticket Received - 286614 - PM: Klimaplan", "PM: Klimaplan"),
    ("[Automatyczna odpowiedź] Re: PM: Klimaplan", "PM: Klimaplan"),
])
def test_subject_prefixes_of_every_kind_are_stripped_nested(subject: str, stripped: str) -> None:
    assert strip_prefixes(subject) == stripped
    assert has_prefix(subject) == (subject != stripped)


def test_a_ticket_hook_marks_a_tickets_mail() -> None:
    assert has_ticket_hook("Re: [Ticket#2026120410000017] Frage zur Mitgliedschaft")
    assert not has_ticket_hook("AW: PM 112/2026")
