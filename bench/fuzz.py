"""The long fuzzing run: at least 10,000 generated and mutated inputs per target, counting exceptions,
calls over one second and HTTP 500s (issue "Hardening": all three must be 0).

Targets: the MIME parser (generated mails, mutated generated mails, mutated mails of the dev corpus),
the article adapter (generated articles, mutated otrs-wire articles), the classifier (both paths) and
the webhook over real HTTP on 127.0.0.1 (generated payloads, mutated otrs-wire bodies, broken
envelopes). Generators: tests/hostile.py, the same the Hypothesis tests use. Reproducible by --seed;
a failing input is written to --failures for replay.

    python bench/fuzz.py                    # 10,000 per target; last line key=value summary
    python bench/fuzz.py -n 500 --targets mime webhook
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import requests
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
SHARED = Path(os.environ.get("BOUNCER_SHARED_DIR") or REPO.parent / "shared")

from app import create_app  # noqa: E402
from bouncer.classify import classify  # noqa: E402
from bouncer.config import Config  # noqa: E402
from bouncer.mime import parse  # noqa: E402
from bouncer.verdict import CATEGORIES  # noqa: E402
from hostile import article_mail, generated_article, generated_mail, generated_payload, mutated  # noqa: E402

SLOW = 1.0  # seconds: a call over this counts as a failure
TARGETS = ("mime", "article", "classifier", "webhook")
PASSWORD = "fuzz-bench"


def corpus_mails(limit: int = 400) -> list[bytes]:
    """Real mails to mutate: the dev corpus (bounces, auto-replies, receipts, people)."""
    files = sorted(p for p in (SHARED / "corpus" / "dev").rglob("*") if p.is_file())
    return [p.read_bytes()[:200_000] for p in files[:: max(1, len(files) // limit)]]


def wire_bodies() -> list[dict]:
    """Real Znuny invoker bodies (otrs-wire captures)."""
    bodies = []
    for path in sorted((SHARED / "otrs-wire").glob("*.json")):
        capture = json.loads(path.read_text())
        body = capture.get("body_json")  # invoker captures; the others are REST calls of ours
        if isinstance(body, dict) and isinstance(body.get("Ticket"), dict) and isinstance(body["Ticket"].get("Article"), dict):
            bodies.append(body)
    return bodies


class Tally:
    def __init__(self, name: str, failures: Path) -> None:
        self.name, self.failures = name, failures
        self.calls = self.exceptions = self.slow = self.http_500 = 0
        self.worst = 0.0
        self.seconds = 0.0

    def run(self, call: Callable[[], object], sample: bytes | str) -> None:
        started = time.perf_counter()
        problem = ""
        try:
            call()
        except Exception:  # what we count: any exception is a finding
            self.exceptions += 1
            problem = traceback.format_exc()
        elapsed = time.perf_counter() - started
        self.calls += 1
        self.seconds += elapsed
        self.worst = max(self.worst, elapsed)
        if elapsed > SLOW:
            self.slow += 1
            problem = problem or f"slow: {elapsed:.2f} s"
        if problem:
            self.keep(sample, problem)

    def keep(self, sample: bytes | str, problem: str) -> None:
        self.failures.mkdir(parents=True, exist_ok=True)
        stem = self.failures / f"{self.name}-{self.calls}"
        stem.with_suffix(".bin").write_bytes(sample if isinstance(sample, bytes) else sample.encode("utf-8", "surrogatepass"))
        stem.with_suffix(".txt").write_text(problem)
        print(f"  {self.name} #{self.calls}: {problem.strip().splitlines()[-1][:160]}", flush=True)


def mails(rng: random.Random, corpus: list[bytes]) -> Iterator[bytes]:
    while True:
        pick = rng.random()
        if pick < 0.4:
            yield generated_mail(rng)
        elif pick < 0.7:
            yield mutated(generated_mail(rng), rng)
        else:
            yield mutated(rng.choice(corpus), rng) if corpus else generated_mail(rng)


def articles(rng: random.Random, wire: list[dict]) -> Iterator[dict]:
    while True:
        if wire and rng.random() < 0.4:
            article = json.loads(json.dumps(rng.choice(wire)["Ticket"]["Article"]))
            for attachment in article.get("Attachment") or []:
                if isinstance(attachment, dict) and rng.random() < 0.6:
                    data = base64.b64decode(attachment.get("Content") or "")
                    attachment["Content"] = base64.b64encode(mutated(data, rng)).decode()
            if rng.random() < 0.5:
                article["Body"] = mutated(str(article.get("Body") or "").encode(), rng).decode("utf-8", "replace")
            yield article
        else:
            yield generated_article(rng)


def fuzz_mime(tally: Tally, rng: random.Random, count: int, corpus: list[bytes]) -> None:
    source = mails(rng, corpus)
    for _ in range(count):
        raw = next(source)
        tally.run(lambda: parse(raw).body_text, raw)


def fuzz_article(tally: Tally, rng: random.Random, count: int, wire: list[dict]) -> None:
    source = articles(rng, wire)
    for _ in range(count):
        article = next(source)
        tally.run(lambda: article_mail(article, {"DynamicField_MailFlags": "bounce"}).body_text,
                  json.dumps(article, default=str))


def fuzz_classifier(tally: Tally, rng: random.Random, count: int, corpus: list[bytes], wire: list[dict]) -> None:
    raw_mails, article_source = mails(rng, corpus), articles(rng, wire)

    def judge(mail: object) -> None:
        verdict = classify(mail)  # type: ignore[arg-type]
        if verdict.category not in CATEGORIES or not verdict.evidence:
            raise AssertionError(f"not a verdict: {verdict}")

    for number in range(count):
        if number % 2:
            raw = next(raw_mails)
            tally.run(lambda: judge(parse(raw)), raw)
        else:
            article = next(article_source)
            tally.run(lambda: judge(article_mail(article)), json.dumps(article, default=str))


def fuzz_webhook(tally: Tally, rng: random.Random, count: int, wire: list[dict]) -> dict[str, int]:
    """Real HTTP to the app on 127.0.0.1 (threaded werkzeug server); returns answers by status."""
    directory = Path(tempfile.mkdtemp(prefix="bouncer-fuzz-"))
    config = Config(db_path=str(directory / "db.sqlite"), webhook_password=PASSWORD, log_json=True,
                    max_body_bytes=4 * 1024 * 1024).validated()
    app = create_app(config)
    service = app.extensions["bouncer"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/otrs/article-created"
    session = requests.Session()
    session.auth = ("webhook", PASSWORD)
    answers: dict[str, int] = {}

    def post(raw: bytes) -> None:
        before = set(service.spool.directory.iterdir())
        response = session.post(url, data=raw, headers={"Content-Type": "application/json"}, timeout=30)
        answers[str(response.status_code)] = answers.get(str(response.status_code), 0) + 1
        if response.status_code >= 500:
            tally.http_500 += 1
            raise AssertionError(f"HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code not in (200, 400, 413):
            raise AssertionError(f"HTTP {response.status_code}: {response.text[:200]}")
        if set(service.spool.directory.iterdir()) - before:
            raise AssertionError("a payload was left in the spool")

    try:
        for number in range(1, count + 1):
            if wire and rng.random() < 0.3:
                body = json.loads(json.dumps(rng.choice(wire)))
                body["Event"].update(TicketID=number, ArticleID=number)
                body["Ticket"]["TicketID"] = body["Ticket"]["Article"]["TicketID"] = number
                body["Ticket"]["Article"]["ArticleID"] = number
                raw = mutated(json.dumps(body).encode(), rng)
            else:
                raw = generated_payload(rng, number, number)
            tally.run(lambda: post(raw), raw)
    finally:
        server.shutdown()
        service.store.close()
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--count", type=int, default=10_000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--targets", nargs="*", default=list(TARGETS), choices=TARGETS)
    parser.add_argument("--failures", type=Path, default=Path(tempfile.gettempdir()) / "bouncer-fuzz-failures")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    corpus, wire = corpus_mails(), wire_bodies()
    print(f"seed {args.seed}; {len(corpus)} corpus mails and {len(wire)} otrs-wire bodies to mutate; "
          f"failing inputs go to {args.failures}")
    import logging
    logging.disable(logging.WARNING)  # the webhook logs every refused body; the tally counts them
    tallies = []
    for name in args.targets:
        tally = Tally(name, args.failures)
        extra = ""
        if name == "mime":
            fuzz_mime(tally, rng, args.count, corpus)
        elif name == "article":
            fuzz_article(tally, rng, args.count, wire)
        elif name == "classifier":
            fuzz_classifier(tally, rng, args.count, corpus, wire)
        else:
            answers = fuzz_webhook(tally, rng, args.count, wire)
            extra = "  answers " + ", ".join(f"{k}: {v}" for k, v in sorted(answers.items()))
        print(f"{name:11} {tally.calls:6} inputs  exceptions {tally.exceptions}  over {SLOW:g} s {tally.slow}  "
              f"HTTP 500 {tally.http_500}  worst {tally.worst * 1000:.0f} ms  mean {tally.seconds / max(1, tally.calls) * 1000:.1f} ms"
              + extra, flush=True)
        tallies.append(tally)
    print("fuzz " + " ".join(f"{t.name}={t.calls}" for t in tallies)
          + f" exceptions={sum(t.exceptions for t in tallies)} slow={sum(t.slow for t in tallies)}"
          f" http_500={sum(t.http_500 for t in tallies)} worst_ms={max(t.worst for t in tallies) * 1000:.0f}"
          f" seed={args.seed}")


if __name__ == "__main__":
    main()
