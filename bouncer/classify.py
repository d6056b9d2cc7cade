"""The pipeline: run the detectors, combine their findings by the trust each declares, weigh the human signs.

Order of trust (`filters.Trust`):
- a machine-readable report (DSN, ARF, MDN part, SES JSON) decides on its own when the mail
  itself is the report (multipart/report, RFC 6522). A report inside a person's reply or forward
  (a reply/forward prefix, which ARF reports carry by convention, or strong signs of a person in
  the text, client or headers) makes it a person's mail. The allowlist never overrides a report;
- header findings (RFC 3834 headers, a daemon sender, a client's receipt or opt-out template)
  are evidence, not proof: strong signs of a person overrule them, and auto-reply headers that
  no auto-reply wording supports are only tagged when the mail shows a person's signs;
- wording alone gives way to any telling sign of a person (a request, a client, an absence announced
  ahead, a greeting by name ...); the mere shape of a reply (a prefix, a quote below), which
  auto-replies share, only weakens it.
Agreeing findings strengthen each other (noisy-or). A report of a failure explains auto-reply
headers (RFC 3464 asks MTAs to mark bounces so), as do receipts and opt-out requests sent by
mail clients. An opt-out request is a person's wish: the human signs never undo it. Nothing
here raises: a broken detector becomes evidence.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from filters import Detector, Trust, arf, autoreply, dsn, lexicon, mdn, ndr, ses, unsubscribe
from filters._smtp import original_of

from . import humansigns, mime
from .article import from_article
from .mail import Mail
from .owntext import is_reply
from .subjects import strip_prefixes
from .verdict import Original, Verdict
from .verdict import human as human_verdict
from .znuny import Article, Ticket

REPORT_DETECTORS: tuple[Detector, ...] = (dsn.DETECTOR, arf.DETECTOR, mdn.DETECTOR, ses.DETECTOR)
OTHER_DETECTORS: tuple[Detector, ...] = (
    unsubscribe.DETECTOR, autoreply.DETECTOR, ndr.DETECTOR, mdn.WORDING_DETECTOR, arf.LEGACY_DETECTOR,
    lexicon.DETECTOR, unsubscribe.WORDING_DETECTOR,
)
DETECTORS: tuple[Detector, ...] = REPORT_DETECTORS + OTHER_DETECTORS
REPORT_MIN = 0.9  # a report finding at this confidence decides alone
HEADER_VETO = 0.7  # human signs this strong overrule header findings
UNSUPPORTED_HEADER_CAP = 0.8  # headers alone in a mail with a person's signs: tag, never close
HUMAN_BELOW = 0.35  # below this after the veto we say human: acting on it would risk a person's mail
# Categories whose senders also set RFC 3834 headers: their auto-reply header findings support them.
_EXPLAINS_AUTO_HEADERS = ("bounce", "unsubscribe", "read_receipt")
_PERSONS_WISH = "unsubscribe"
# RFC 5965 §3: a feedback report repeats the complained-about subject after "FW:"; the prefix is the format's.
_PREFIXED_REPORTS = ("feedback_report",)

Allow = Callable[[str], "str | None"]
Finding = tuple[Detector, Verdict]


def classify(mail: Mail, allow: Allow | None = None) -> Verdict:
    """The verdict for one parsed mail. `allow(from_address)` names a matching allowlist rule, if any.

    The allowlist protects a sender's wording and headers, never a machine-readable report.
    """
    failures: list[str] = []
    findings = _run(REPORT_DETECTORS, mail, failures)
    decided = [(d, f) for d, f in findings if f.confidence >= REPORT_MIN]
    if decided:
        best = max(decided, key=lambda item: item[1].confidence)[1]
        # A multipart/report is the report itself (RFC 6522); only other mails can wrap one.
        signs = humansigns.NONE if mail.content_type == "multipart/report" else humansigns.assess(mail)
        wrapped = signs.wraps and best.category not in _PREFIXED_REPORTS
        if wrapped or signs.personal >= HEADER_VETO:
            overruled = f"a person's mail around a report: overruled {best.evidence[0]}"
            verdict = human_verdict(signs.evidence + (overruled,), confidence=0.8)
        else:
            verdict = _support(best, [f for _, f in findings])
            if allow is not None and (rule := allow(mail.from_address)):
                kept = (f"allowlist rule {rule!r} not applied: it covers a sender's wording, "
                        "not a machine-readable report")
                verdict = verdict.with_(evidence=verdict.evidence + (kept,))
        return _finish(verdict, mail, failures)
    if allow is not None:
        rule = allow(mail.from_address)
        if rule:
            return _with_parse_error(human_verdict((f"allowlist: {rule}",), confidence=1.0), mail)
    findings += _run(OTHER_DETECTORS, mail, failures)
    return _finish(_combine(findings, mail), mail, failures)


def classify_bytes(raw: bytes, allow: Allow | None = None) -> Verdict:
    return classify(mime.parse(raw), allow)


def classify_article(article: Article, ticket: Ticket | None = None, allow: Allow | None = None) -> Verdict:
    return classify(from_article(article, ticket), allow)


def _run(detectors: Iterable[Detector], mail: Mail, failures: list[str]) -> list[Finding]:
    found: list[Finding] = []
    for detector in detectors:
        try:
            verdict = detector.detect(mail)
        except Exception as exc:  # a detector bug must cost a verdict's strength, never the event
            failures.append(f"{detector.name}: detector failed ({type(exc).__name__}: {str(exc)[:80]})")
            continue
        if verdict is not None:
            found.append((detector, verdict))
    return found


def _finish(verdict: Verdict, mail: Mail, failures: list[str]) -> Verdict:
    if verdict.category in ("auto_reply", "read_receipt", "unsubscribe") and not verdict.original.message_id:
        # An opt-out's own subject names our mailing only when it answers it ("Re: ..."), not "unsubscribe".
        own_subject = verdict.category != "unsubscribe" or is_reply(mail.subject)
        verdict = verdict.with_(original=_replied_to(mail, verdict.original, own_subject))
    if verdict.category == "auto_reply" and verdict.return_date is None:
        verdict = verdict.with_(return_date=lexicon.mail_return_date(mail))  # header-only verdicts: look once
    if failures:
        verdict = verdict.with_(evidence=verdict.evidence + tuple(failures))
    return _with_parse_error(verdict, mail)


def _combine(findings: list[Finding], mail: Mail) -> Verdict:
    if not findings:
        return human_verdict(("no machine signal found",), confidence=0.8)
    recast: set[int] = set()  # auto-reply header findings that now support another category
    for category in _EXPLAINS_AUTO_HEADERS:
        if any(f.category == category and f.confidence >= 0.6 for _, f in findings):
            moved = []
            for d, f in findings:
                if f.category == "auto_reply" and d.trust is Trust.HEADER:
                    f = f.with_(category=category)
                    recast.add(id(f))
                moved.append((d, f))
            findings = moved
            break
    _, best = max(findings, key=lambda item: (_strength(item[1], findings), id(item[1]) not in recast))
    agreeing = [(d, f) for d, f in findings if f.category == best.category]
    verdict = _support(best, [f for d, f in agreeing if f is not best])
    if verdict.category == _PERSONS_WISH:
        return verdict  # a person's wish either way: the signs of a person confirm it
    trust = max(d.trust for d, _ in agreeing)
    signs = humansigns.assess(mail)
    if not signs.strength:
        return verdict
    overruled = signs.evidence + tuple(f"overruled {e}" for e in verdict.evidence)
    if signs.strength >= HEADER_VETO or trust is Trust.WORDING and signs.telling:
        return human_verdict(overruled, confidence=min(0.95, 0.5 + signs.strength / 2))
    if trust is Trust.WORDING:  # only the shape of a reply (a prefix, a quote), which auto-replies share: weaker
        lowered = round(verdict.confidence * (1 - signs.strength), 2)
        if lowered < HUMAN_BELOW:
            return human_verdict(overruled, confidence=min(0.95, 0.5 + signs.strength / 2))
        return verdict.with_(confidence=lowered, evidence=verdict.evidence + signs.evidence)
    worded = any(d.trust is Trust.WORDING for d, _ in agreeing)
    if worded or verdict.category != "auto_reply":
        return verdict.with_(evidence=verdict.evidence + signs.evidence)
    # RFC 3834 headers with no auto-reply wording in a mail that shows a person's signs: a client
    # rule or a ticket tool may have set them on a typed mail. Tag, never close.
    confidence = min(UNSUPPORTED_HEADER_CAP, verdict.confidence * (1 - signs.strength))
    if confidence < HUMAN_BELOW:
        return human_verdict(overruled, confidence=min(0.95, 0.5 + signs.strength / 2))
    return verdict.with_(confidence=round(confidence, 2), evidence=verdict.evidence + signs.evidence)


def _strength(verdict: Verdict, findings: Iterable[Finding]) -> float:
    """Noisy-or of all findings that agree on the category: independent signs add up."""
    miss = 1.0
    for _, other in findings:
        if other.category == verdict.category:
            miss *= 1 - other.confidence
    # At equal strength a failure report outranks auto-reply headers, an opt-out outranks both.
    return 1 - miss + {"unsubscribe": 0.02, "bounce": 0.01}.get(verdict.category, 0)


def _support(verdict: Verdict, others: list[Verdict]) -> Verdict:
    """Fold agreeing findings into the chosen verdict: more evidence, higher confidence, missing details."""
    agreeing = [o for o in others if o.category == verdict.category and o is not verdict]
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


def _replied_to(mail: Mail, known: Original, own_subject: bool = True) -> Original:
    """An auto-reply names its original in In-Reply-To/References, may quote its headers, and repeats its subject."""
    ids = (mail.header("In-Reply-To") + " " + mail.header("References")).split()
    message_id = next((i for i in ids if i.startswith("<") and i.endswith(">")), None)
    quoted = original_of(mail, mail.body_text) if known.is_empty() else known
    return Original(message_id=message_id or quoted.message_id,
                    subject=quoted.subject or (strip_prefixes(mail.subject) if own_subject else None) or None,
                    date=quoted.date, from_=quoted.from_)


def _with_parse_error(verdict: Verdict, mail: Mail) -> Verdict:
    """Unreadable input is human with an error; a recovered parse problem is only evidence."""
    if not mail.error:
        return verdict
    if not len(mail.headers) and not mail.body_text.strip():
        return human_verdict((f"parser: {mail.error}",), confidence=0.5, error=mail.error)
    return verdict.with_(evidence=verdict.evidence + (f"parser: {mail.error}",))
