"""Each detector alone, as a table: (detector, mail, expected finding), in the style of flufl.bounce's
detector tests. A finding is compared on the fields given; None means the detector must say nothing.

The pipeline's tests are the fixture and corpus tests; these pin what each peer contributes,
including what it must leave alone (a pasted report is no report part, a newsletter footer no
opt-out request).
"""
from __future__ import annotations

from typing import Any

import pytest

from bouncer.classify import DETECTORS
from bouncer.mime import parse
from corpus import FIXTURES
from filters import Detector, Trust, arf, autoreply, dsn, lexicon, mdn, ndr, ses, unsubscribe

CASES: list[tuple[Detector, str, dict[str, Any] | None]] = [
    # RFC 3464 parts: several recipients without blank lines, each its own status; addresses as written
    (dsn.DETECTOR, "bounce_hard/dsn-drei-empfaenger-ohne-leerzeilen",
     {"category": "bounce", "bounce_type": "hard", "status": "5.1.1",
      "recipients": ("a.lorenz@stadtanzeiger.example", "b.meyer@stadtanzeiger.example", "c.wolff@stadtanzeiger.example")}),
    (dsn.DETECTOR, "bounce_hard/dsn-nur-final-recipient-und-diagnostic-code",
     {"category": "bounce", "bounce_type": "hard", "status": "5.1.1", "recipients": ("redaktion@bergbote.example",)}),
    (dsn.DETECTOR, "bounce_hard/dsn-lokalteil-mit-gleichheitszeichen", {"recipients": ("=presse.info@verlagshaus-mitte.example",)}),
    (dsn.DETECTOR, "bounce_hard/dsn-lokalteil-in-anfuehrungszeichen", {"recipients": ('"redaktion nord"@regionalfunk.example',)}),
    (dsn.DETECTOR, "bounce_hard/global-dsn-utf8-idn-domain", {"recipients": ("redaktion@bürgerzeitung.example",)}),
    (dsn.DETECTOR, "bounce_soft/dovecot-maildir-over-quota-5-7-0",
     {"category": "bounce", "bounce_type": "soft", "status": "5.7.0", "reason": "mailbox_full"}),
    (dsn.DETECTOR, "bounce_soft/dsn-552-5-2-2-mailbox-full-action-failed", {"bounce_type": "soft", "reason": "mailbox_full"}),
    (dsn.DETECTOR, "human/person-pastes-dsn-fields-neue-adresse-de", None),  # pasted fields are no report part
    (dsn.DETECTOR, "auto_reply/ooo-ab-dem-wieder-erreichbar-de", None),
    # free-text NDRs
    (ndr.DETECTOR, "bounce_hard/exchange-text-unzustellbar-recipnotfound-auto-submitted-de",
     {"category": "bounce", "bounce_type": "hard", "status": "5.1.1", "reason": "user_unknown",
      "recipients": ("s.brinkmann@kreiszeitung-sued.example",)}),
    (ndr.DETECTOR, "bounce_hard/exchange-text-undeliverable-recipnotfound-en",
     {"status": "5.1.1", "recipients": ("newsroom@citypress.example.co.uk",)}),
    (ndr.DETECTOR, "bounce_hard/antivirus-gateway-nicht-zugestellt-original-anbei-de",
     {"category": "bounce", "recipients": ("lokales@anzeiger-ost.example",)}),
    (ndr.DETECTOR, "bounce_hard/japanischer-betreff-noreply-haifu-funo-ja", {"recipients": ("press@shimbun-tokai.example.jp",)}),
    (ndr.DETECTOR, "bounce_soft/exim-retry-time-not-reached-all-hosts-failing",
     {"bounce_type": "soft", "recipients": ("redaktion@inselblatt.example",)}),
    (ndr.DETECTOR, "bounce_soft/exim-deferred-will-be-reattempted-rate-limit", {"bounce_type": "soft"}),
    (ndr.DETECTOR, "bounce_soft/zustellung-verzoegert-noch-nicht-zugestellt-de",
     {"bounce_type": "soft", "recipients": ("chefredaktion@tagesecho.example",)}),
    (ndr.DETECTOR, "human/person-pastes-dsn-fields-neue-adresse-de", None),  # a person's sender and subject
    (ndr.DETECTOR, "human/wg-unzustellbar-weitergeleitet-mit-report-teil-de", None),  # forwarded by a person
    # RFC 3834 headers: evidence also on a person's mail (the pipeline weighs it against the signs)
    (autoreply.DETECTOR, "human/jira-agent-antwort-auto-generated-de", {"category": "auto_reply"}),
    (autoreply.DETECTOR, "auto_reply/automatyczna-odpowiedz-w-nawiasie-pl", None),
    (autoreply.DETECTOR, "unsubscribe/person-bitte-streichen-sie-mich-aus-dem-verteiler", None),
    # wording
    (lexicon.DETECTOR, "auto_reply/ooo-ab-dem-wieder-erreichbar-de", {"category": "auto_reply", "return_date": "2026-12-07"}),
    (lexicon.DETECTOR, "auto_reply/ooo-back-on-monday-7-december-en", {"return_date": "2026-12-07"}),
    (lexicon.DETECTOR, "auto_reply/ooo-wieder-im-buero-ab-januar-de", {"return_date": "2027-01-04"}),
    (lexicon.DETECTOR, "auto_reply/ooo-de-retour-le-fr", {"return_date": "2026-12-07"}),
    (lexicon.DETECTOR, "auto_reply/automatyczna-odpowiedz-w-nawiasie-pl", {"category": "auto_reply", "return_date": "2026-12-04"}),
    (lexicon.DETECTOR, "auto_reply/ticket-ack-ihre-anfrage-nummer-eingegangen-de", {"category": "auto_reply"}),
    (lexicon.DETECTOR, "auto_reply/noreply-adresse-wird-nicht-ueberwacht-de", {"category": "auto_reply"}),
    (lexicon.DETECTOR, "bounce_hard/dsn-drei-empfaenger-ohne-leerzeilen", None),
    # receipts
    (mdn.DETECTOR, "read_receipt/allowlist-domain-mdn-teil", {"category": "read_receipt"}),
    (mdn.DETECTOR, "read_receipt/lotus-notes-return-receipt-en", None),  # no report part
    (mdn.WORDING_DETECTOR, "read_receipt/lotus-notes-return-receipt-en",
     {"category": "read_receipt", "original_subject": "PM: Ehrenamtspreis 2026 verliehen"}),
    (mdn.WORDING_DETECTOR, "read_receipt/gelesen-wurde-gelesen-von-de", {"category": "read_receipt"}),
    (mdn.WORDING_DETECTOR, "read_receipt/outlook-lesebestaetigung-html-ohne-mdn-teil-de", {"category": "read_receipt"}),
    (mdn.WORDING_DETECTOR, "read_receipt/allowlist-domain-mdn-teil", None),  # the report part speaks
    # opt-out requests, and what is none
    (unsubscribe.DETECTOR, "unsubscribe/applemail-abmelden-de",
     {"category": "unsubscribe", "recipients": ("j.albrecht@mac.example",), "original_subject": "PM: Ehrenamtspreis 2026 verliehen"}),
    (unsubscribe.DETECTOR, "unsubscribe/gmail-unsubscribe-antwort-de", {"category": "unsubscribe"}),
    (unsubscribe.DETECTOR, "unsubscribe/person-abmeldung-keine-pressemitteilungen-mehr", None),  # typed, not a client's
    (unsubscribe.WORDING_DETECTOR, "unsubscribe/person-abmeldung-keine-pressemitteilungen-mehr", {"category": "unsubscribe"}),
    (unsubscribe.WORDING_DETECTOR, "unsubscribe/person-bitte-streichen-sie-mich-aus-dem-verteiler",
     {"recipients": ("h.voss@ruhrblick.example",)}),
    (unsubscribe.WORDING_DETECTOR, "unsubscribe/person-reply-please-remove-me-en", {"category": "unsubscribe"}),
    (unsubscribe.WORDING_DETECTOR, "human/abmeldung-vom-landesparteitag", None),
    (unsubscribe.WORDING_DETECTOR, "feedback_report/arf-abuse-newsletter-mit-abmelde-fusszeile", None),
    # complaints and SES
    (arf.DETECTOR, "feedback_report/arf-abuse-newsletter-mit-abmelde-fusszeile",
     {"category": "feedback_report", "recipients": ("leser4711@mailprovider.example",)}),
    (arf.LEGACY_DETECTOR, "feedback_report/arf-abuse-newsletter-mit-abmelde-fusszeile", None),
    (arf.DETECTOR, "unsubscribe/applemail-abmelden-de", None),
    # SES sends this bounce as a DSN, not as SNS JSON: the DSN detector's, not the SES one's
    (ses.DETECTOR, "bounce_hard/amazon-ses-bounce-newsletter", None),
    (dsn.DETECTOR, "bounce_hard/amazon-ses-bounce-newsletter", {"category": "bounce", "bounce_type": "hard"}),
]


def _field(finding: Any, key: str) -> Any:
    if key == "original_subject":
        return finding.original.subject
    if key == "return_date":
        return finding.return_date.isoformat() if finding.return_date else None
    return getattr(finding, key)


@pytest.mark.parametrize(("detector", "name", "expected"), CASES,
                         ids=[f"{d.name}:{n.split('/')[1]}" for d, n, _ in CASES])
def test_detector_finds_what_the_table_says(detector: Detector, name: str, expected: dict[str, Any] | None) -> None:
    finding = detector.detect(parse((FIXTURES / f"{name}.eml").read_bytes()))
    if expected is None:
        assert finding is None, finding
        return
    assert finding is not None
    for key, value in expected.items():
        assert _field(finding, key) == value, (key, finding.evidence)


def test_every_detector_declares_its_trust_under_its_own_name() -> None:
    names = [d.name for d in DETECTORS]
    assert len(names) == len(set(names))
    assert all(isinstance(d.trust, Trust) for d in DETECTORS)
    assert {d.trust for d in DETECTORS} == set(Trust)
