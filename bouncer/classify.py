"""The pipeline: run every detector, combine their answers, then apply the human veto.

Order of trust: a structural report (DSN, ARF, MDN part, SES JSON) decides on its own;
below that, agreeing detectors strengthen each other; wording alone stays below the
close threshold; and signs of a person writing pull any non-structural verdict
down or back to human. Nothing here raises: a broken detector becomes evidence.
"""
from __future__ import annotations

from typing import Callable, Iterable

from filters import Detector, arf, autoreply, dsn, human, lexicon, mdn, ndr, ses
from filters._smtp import original_of

from . import mime
from .article import from_article
from .mail import Mail
from .subjects import strip_prefixes
from .verdict import Original, Verdict
from .verdict import human as human_verdict
from .znuny import Article, Ticket

DETECTORS: tuple[tuple[str, Detector], ...] = (
    (dsn.NAME, dsn.detect), (arf.NAME, arf.detect), (mdn.NAME, mdn.detect), (ses.NAME, ses.detect),
    (autoreply.NAME, autoreply.detect), (ndr.NAME, ndr.detect), (lexicon.NAME, lexicon.detect),
)
# A verdict from these at this confidence rests on a machine-readable report: no veto.
STRUCTURAL = frozenset({dsn.NAME, arf.NAME, mdn.NAME, ses.NAME})
STRUCTURAL_MIN = 0.9
# Below this after the veto, we say human: acting on it would risk a person's mail.
HUMAN_BELOW = 0.35

Allow = Callable[[str], "str | None"]


def classify(mail: Mail, allow: Allow | None = None) -> Verdict:
    """The verdict for one parsed mail. `allow(from_address)` names a matching allowlist rule, if any."""
    if allow is not None:
        rule = allow(mail.from_address)
        if rule:
            return _with_parse_error(human_verdict((f"allowlist: {rule}",), confidence=1.0), mail)
    findings: list[tuple[str, Verdict]] = []
    failures: list[str] = []
    for name, detect in DETECTORS:
        if name not in STRUCTURAL and name != autoreply.NAME and any(
                n in STRUCTURAL and f.confidence >= STRUCTURAL_MIN for n, f in findings):
            continue  # a machine-readable report decides alone: wording cannot change it
        try:
            found = detect(mail)
        except Exception as exc:  # a detector bug must cost a verdict's strength, never the event
            failures.append(f"{name}: detector failed ({type(exc).__name__}: {str(exc)[:80]})")
            continue
        if found is not None:
            findings.append((name, found))
    verdict = _combine(findings, mail)
    if verdict.category in ("auto_reply", "read_receipt") and not verdict.original.message_id:
        verdict = verdict.with_(original=_replied_to(mail, verdict.original))
    if verdict.category == "auto_reply" and verdict.return_date is None and all(n != lexicon.NAME for n, _ in findings):
        verdict = verdict.with_(return_date=lexicon.mail_return_date(mail))  # header-only verdicts: look once
    if failures:
        verdict = verdict.with_(evidence=verdict.evidence + tuple(failures))
    return _with_parse_error(verdict, mail)


def classify_bytes(raw: bytes, allow: Allow | None = None) -> Verdict:
    return classify(mime.parse(raw), allow)


def classify_article(article: Article, ticket: Ticket | None = None, allow: Allow | None = None) -> Verdict:
    return classify(from_article(article, ticket), allow)


def _combine(findings: list[tuple[str, Verdict]], mail: Mail) -> Verdict:
    if not findings:
        return human_verdict(("no machine signal found",), confidence=0.8)
    for name, found in findings:
        if name in STRUCTURAL and found.confidence >= STRUCTURAL_MIN:
            return _support(found, [f for n, f in findings if n != name])
    if any(f.category == "bounce" and f.confidence >= 0.6 for _, f in findings):
        # RFC 3464 asks MTAs to mark bounces Auto-Submitted too: such headers support the bounce.
        findings = ([(n, f) for n, f in findings if n != autoreply.NAME]
                    + [(n, f.with_(category="bounce")) for n, f in findings if n == autoreply.NAME])
    best_name, best = max(findings, key=lambda item: _strength(item[1], findings))
    verdict = _support(best, [f for n, f in findings if f is not best])
    only_words = all(n in (lexicon.NAME, mdn.NAME) or (n == ndr.NAME and f.confidence < 0.8)
                     for n, f in findings if f.category == verdict.category)
    signs = human.assess(mail)
    if signs.strength and (only_words or signs.strength >= 0.7 and best_name != autoreply.NAME):
        lowered = round(verdict.confidence * (1 - signs.strength), 2)
        if lowered < HUMAN_BELOW:
            return human_verdict(signs.evidence + tuple(f"overruled {e}" for e in verdict.evidence),
                                 confidence=min(0.95, 0.5 + signs.strength / 2))
        verdict = verdict.with_(confidence=lowered, evidence=verdict.evidence + signs.evidence)
    return verdict


def _strength(verdict: Verdict, findings: Iterable[tuple[str, Verdict]]) -> float:
    """Noisy-or of all findings that agree on the category: independent signs add up."""
    miss = 1.0
    for _, other in findings:
        if other.category == verdict.category:
            miss *= 1 - other.confidence
    # A bounce detector outranks auto-reply headers at equal strength: MTAs mark bounces auto-replied too.
    return 1 - miss + (0.01 if verdict.category == "bounce" else 0)


def _support(verdict: Verdict, others: list[Verdict]) -> Verdict:
    """Fold agreeing findings into the chosen verdict: more evidence, higher confidence, missing details."""
    agreeing = [o for o in others if o.category == verdict.category]
    if not agreeing:
        return verdict
    miss = 1 - verdict.confidence
    evidence = list(verdict.evidence)
    for other in agreeing:
        miss *= 1 - other.confidence * 0.5
        evidence.extend(e for e in other.evidence if e not in evidence)
    return verdict.with_(
        confidence=round(min(0.99, max(verdict.confidence, 1 - miss)), 3), evidence=tuple(evidence),
        return_date=verdict.return_date or next((o.return_date for o in agreeing if o.return_date), None),
        recipients=verdict.recipients or next((o.recipients for o in agreeing if o.recipients), ()),
        original=verdict.original if not verdict.original.is_empty() else next(
            (o.original for o in agreeing if not o.original.is_empty()), verdict.original),
    )


def _replied_to(mail: Mail, known: Original) -> Original:
    """An auto-reply names its original in In-Reply-To/References, may quote its headers, and repeats its subject."""
    ids = (mail.header("In-Reply-To") + " " + mail.header("References")).split()
    message_id = next((i for i in ids if i.startswith("<") and i.endswith(">")), None)
    quoted = original_of(mail, mail.body_text) if known.is_empty() else known
    return Original(message_id=message_id or quoted.message_id,
                    subject=quoted.subject or strip_prefixes(mail.subject) or None,
                    date=quoted.date, from_=quoted.from_)


def _with_parse_error(verdict: Verdict, mail: Mail) -> Verdict:
    """Unreadable input is human with an error; a recovered parse problem is only evidence."""
    if not mail.error:
        return verdict
    if not len(mail.headers) and not mail.body_text.strip():
        return human_verdict((f"parser: {mail.error}",), confidence=0.5, error=mail.error)
    return verdict.with_(evidence=verdict.evidence + (f"parser: {mail.error}",))
