"""Property-based fuzzing (Hypothesis, bounded) of the MIME parser, the article adapter, the classifier
and the webhook: no input makes any of them raise, and the webhook never answers 500.

Inputs are the generated and mutated mails and payloads of tests/hostile.py (broken boundaries, bad
base64/QP, invalid charsets, 8-bit and 100 KB headers, thousands of fields, deep nesting, JSON of
the wrong types), driven by Hypothesis' random source so failures shrink and replay. bench/fuzz.py
runs the same generators for 10,000 and more inputs per target.
"""
from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from random import Random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from bouncer.classify import classify
from bouncer.config import Config
from bouncer.mail import Mail
from bouncer.mime import parse
from bouncer.verdict import CATEGORIES
from hostile import article_mail, generated_article, generated_mail, generated_payload, mutated

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
PASSWORD = "fuzz-pass"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"webhook:{PASSWORD}".encode()).decode(),
        "Content-Type": "application/json"}
# Any JSON value, for the article fields and the envelope.
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=12)


@FUZZ
@given(st.randoms(use_true_random=False), st.booleans())
def test_mime_parser_never_raises_on_generated_or_mutated_mail(rng: Random, mutate: bool) -> None:
    raw = generated_mail(rng)
    mail = parse(mutated(raw, rng) if mutate else raw)
    assert isinstance(mail, Mail)
    assert isinstance(mail.body_text, str) and isinstance(mail.subject, str)


@FUZZ
@given(st.binary(max_size=4000))
def test_mime_parser_never_raises_on_any_bytes(raw: bytes) -> None:
    assert isinstance(parse(raw), Mail)


@FUZZ
@given(st.randoms(use_true_random=False))
def test_article_adapter_never_raises_on_a_generated_article(rng: Random) -> None:
    assert isinstance(article_mail(generated_article(rng), {"DynamicField_MailFlags": "bounce"}), Mail)


@FUZZ
@given(st.dictionaries(st.sampled_from(["From", "To", "Subject", "Body", "ContentType", "MessageID", "References",
                                        "Attachment", "ArticleNumber", "DynamicField_AutoSubmitted"]), JSON),
       st.lists(st.dictionaries(st.sampled_from(["ContentType", "Filename", "Content", "Disposition"]), JSON),
                max_size=3))
def test_article_adapter_never_raises_on_fields_of_any_json_type(article: dict, attachments: list) -> None:
    article.setdefault("Attachment", attachments)
    assert isinstance(article_mail(article), Mail)


@FUZZ
@given(st.randoms(use_true_random=False), st.booleans())
def test_classifier_gives_every_generated_mail_a_verdict(rng: Random, mutate: bool) -> None:
    raw = generated_mail(rng)
    verdict = classify(parse(mutated(raw, rng) if mutate else raw))
    assert verdict.category in CATEGORIES and verdict.evidence
    assert 0 <= verdict.confidence <= 1
    verdict = classify(article_mail(generated_article(rng)))
    assert verdict.category in CATEGORIES


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    directory: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(Config(db_path=str(directory / "db.sqlite"), webhook_password=PASSWORD, log_json=False,
                            max_body_bytes=2 * 1024 * 1024).validated())
    yield app.test_client(), app.extensions["bouncer"], itertools.count(1)
    app.extensions["bouncer"].store.close()


def check_answer(webhook: tuple, raw: bytes) -> None:
    client, service, _ = webhook
    response = client.post("/otrs/article-created", data=raw, headers=AUTH)
    assert response.status_code in (200, 400, 413), response.get_data(as_text=True)[:300]
    if response.status_code == 200:
        assert response.get_json()["Result"] in ("processed", "duplicate", "ignored")
    assert not any(service.spool.directory.iterdir()), "every answer leaves the spool empty"


@FUZZ
@given(st.randoms(use_true_random=False))
def test_webhook_never_answers_500_to_a_generated_payload(webhook: tuple, rng: Random) -> None:
    number = next(webhook[2])
    check_answer(webhook, generated_payload(rng, number, number))


@FUZZ
@given(JSON, st.sampled_from(["Event", "Ticket", "Article", "TicketID", "ArticleID", "State", "Articles"]))
def test_webhook_never_answers_500_to_an_envelope_field_of_any_json_type(webhook: tuple, value: object,
                                                                         where: str) -> None:
    number = next(webhook[2])
    body = {"Event": {"Event": "ArticleCreate", "TicketID": number, "ArticleID": number},
            "Ticket": {"TicketID": number, "State": "new", "Article": {"ArticleID": number, "Body": "Hallo"}}}
    target = body["Ticket"]["Article"] if where == "Article" else body["Ticket"] if where in ("State", "Articles") \
        else body
    target[where] = value
    check_answer(webhook, json.dumps(body).encode("utf-8", "surrogatepass"))
