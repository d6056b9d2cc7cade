"""Wording of out-of-office replies and automatic acknowledgements, German first, then other languages.

Words are weak evidence (people write "Urlaub" too), so this detector only reads the
text a sender typed above any quote, anchors subject phrases at the start (an
auto-reply puts its marker first, a person's reply starts with "Re:"), and gives a
subject or body match alone a low confidence that later stages only tag.
Also extracts the return date an out-of-office names ("bis 12.01.", "until January 12").
"""
from __future__ import annotations

import re
from datetime import date, datetime
from email.utils import parsedate_to_datetime

from bouncer.mail import Mail, first_address
from bouncer.owntext import own_text
from bouncer.verdict import Verdict

from . import Detector, Trust

NAME = "lexicon"
WORDING_CHARS = 1500  # an auto-reply says what it is, and until when, in its first lines

# Markers only responders put first in a subject ("Automatische Antwort:", "Out of Office:") ...
_OOO_SUBJECT = (
    r"automatische antwort|abwesenheitsnotiz|abwesenheitsmeldung|automatisch generierte|"
    r"auto(?:matic|mated)?[ -]?(?:reply|response|responder|antwort|message)|autoreply|auto:|out of (?:the )?office|ooo\b|"
    r"automatyczna odpowied[źz]|automatisch(?:e)? (?:antwoord|beantwoording|bericht)|réponse auto\b|"
    r"réponse automatique|risposta automatica|fuori (?:sede|ufficio)|automatisch antwoord|afwezigheidsbericht|"
    r"respuesta automática|respuesta automatica|fuera de la oficina|autoodpowied[źz]|odpowied[źz] automatyczna|"
    r"frånvaro|automatiskt svar|autosvar|automatisk svar|automaattinen vastaus|"
    r"автоматический ответ|resposta automática|automatická odpověď|automatická odpoveď|otomatik yanıt|"
    r"automatikus válasz|automatski odgovor|samodejni odgovor"
)
# ... and plain words that people also put first when they announce their own absence.
_WEAK_SUBJECT = (
    r"abwesend|abwesenheit|außer haus|ausser haus|nicht im büro|urlaub|on (?:vacation|leave|holiday)|"
    r"away from (?:the )?office|vacation|absence|absent|assente|afwezig|ausente|nieobecno[śs][ćc]|poissa"
)
_ACK_SUBJECT = (
    r"(?:ihre|deine) (?:nachricht|anfrage|e-?mail|mail|bestellung|meldung)(?:\s*\[[^\]]{0,30}\]|\s+(?:nr\.?\s*)?#?[\w-]{1,20})?"
    r" (?:ist|wurde) (?:bei uns )?(?:eingegangen|empfangen|erhalten|registriert|erstellt|angelegt|aufgenommen)|"
    r"anfrage eingegangen|"
    r"danke für ihre (?:nachricht|e-?mail|anfrage)|ticket received|request received|"
    r"eingangsbestätigung|empfangsbestätigung|vielen dank für ihre (?:nachricht|e-?mail|anfrage|mail)|"
    r"we(?:'ve| have) received your|(?:your )?(?:message|request|e-?mail|ticket|case|support request)"
    r"(?: \[?#?[\w-]{1,20}\]?)? (?:has been |was )?(?:received|created|opened|logged)|"
    r"thank you for (?:your (?:e-?mail|message|inquiry|enquiry|request)|contacting)|auto[- ]?acknowledg|"
    r"ticket (?:created|opened|eröffnet|erstellt)|accusé de réception|conferma di ricezione|ontvangstbevestiging|"
    r"potwierdzenie (?:otrzymania|odbioru)|wir haben ihre (?:nachricht|anfrage|e-?mail) erhalten"
)
_CHALLENGE_SUBJECT = (
    r"please confirm|confirm your (?:e-?mail|message|address)|verify your (?:e-?mail|address)|sender verification|"
    r"bitte bestätigen|bestätigen sie|anti-?spam|spam (?:quarantine|report|digest|notification)|quarantine|quarantäne|"
    r"message (?:held|blocked|quarantined)|challenge"
)
_SUBJECT_RE = re.compile(rf"^\s*(?:\[[^\]]{{0,60}}\]\s*)?\[?\s*(?P<kind>(?P<ooo>{_OOO_SUBJECT})|(?P<weak>{_WEAK_SUBJECT})|"
                         rf"(?P<ack>{_ACK_SUBJECT})|(?P<chal>{_CHALLENGE_SUBJECT}))", re.I)
_DE_AWAY = (r"(?:nicht im (?:büro|hause|haus)|außer haus|ausser haus|abwesend|im urlaub|in urlaub|nicht erreichbar|"
            r"nicht am arbeitsplatz|auf dienstreise|unterwegs|in elternzeit|krank)")
_EN_AWAY = (r"(?:out of (?:the )?office|away from (?:the|my) (?:office|desk)|on (?:vacation|holiday|leave|annual leave|"
            r"parental leave|sick leave)|away until|out until|travel(?:l)?ing)")
# Auto-reply wording, searched in lower-cased text. One pattern per leading phrase: a pattern that
# starts with a literal is found by a fast scan, where one big alternation is tried at every position.
_BODY_PATTERNS = tuple(re.compile(pattern, re.S) for pattern in (
    # German out-of-office, acknowledgements
    *(rf"{lead}\b.{{0,80}}?\b{_DE_AWAY}" for lead in ("ich bin", "bin ich", "wir sind", "sind wir")),
    r"befinde mich\b.{0,60}?\b(?:im urlaub|außer haus|auf dienstreise|in elternzeit)",
    *(rf"{lead} (?:ist|bleibt)\b.{{0,60}}?\bgeschlossen" for lead in ("büro", "praxis", "kanzlei", "geschäftsstelle", "betrieb", "firma")),
    *(rf"{lead} (?:e-?mail|nachricht|mail) wird (?:nicht )?(?:weitergeleitet|gelesen)" for lead in ("ihre", "deine")),
    r"in dringenden fällen wenden sie sich",
    r"ab dem .{0,20} wieder (?:im büro|erreichbar|da)",
    r"(?:diese|dies ist eine) (?:e-?mail|nachricht|antwort) (?:wurde |ist )?(?:automatisch|automatische)",
    r"automatisch (?:generierte|erstellte|versandte|erzeugte)",
    r"in quarantäne (?:gestellt|verschoben)",
    r"ihre (?:nachricht|anfrage|e-?mail|mail|zuschrift)\b[^.!?]{0,40}? (?:ist|wurde)\b[^.!?]{0,30}?\b(?:eingegangen|empfangen)",
    r"wir haben ihre (?:nachricht|anfrage|e-?mail) erhalten",
    *(rf"{lead} der (?:ticket|vorgangs|bearbeitungs)-?nummer" for lead in ("unter", "mit")), r"ticket-?(?:nummer|id)\s*:?\s*#?\d{3,}",
    r"wir (?:werden uns|melden uns) (?:so bald wie möglich|schnellstmöglich|in kürze|umgehend|zeitnah)",
    # refusals of no-reply addresses
    r"diese (?:e-?mail-?)?adresse (?:wird nicht (?:überwacht|gelesen|bearbeitet)|ist (?:nur )?für den versand|"
    r"kann keine (?:e-?mails|nachrichten) empfangen)",
    r"antworten sie (?:bitte )?nicht auf diese", r"nachrichten an diese adresse werden nicht",
    r"nicht für den empfang von (?:e-?mails|nachrichten)",
    # English
    *(rf"{lead}\b.{{0,60}}?\b{_EN_AWAY}" for lead in ("i'm", "i am", "i will be")),
    r"limited access to (?:e-?mail|my e-?mail)",
    r"this is an automat(?:ed|ic) (?:reply|response|message)",
    r"auto-?generated (?:reply|response)",
    *(rf"{lead} (?:have|'ve) received your (?:message|e-?mail|request)" for lead in ("we", "i")),
    r"your (?:message|request|e-?mail) has been received",
    r"a ticket has been (?:created|opened)", r"ticket (?:id|number|#)\s*:?\s*#?\d{3,}",
    r"we will (?:get back to you|respond|reply) (?:as soon as possible|shortly|within)",
    *(rf"{lead} an? (?:unmonitored|no-?reply|noreply|unattended) (?:e-?mail )?(?:address|mailbox)" for lead in ("this is", "from")),
    r"this (?:e-?mail )?(?:address|mailbox) (?:is not monitored|is unattended|does not (?:accept|receive))",
    *(rf"{lead} (?:handle|process|answer|respond to) your (?:message|e-?mail)" for lead in ("cannot", "can't", "could not", "unable to")),
    r"do not reply to this (?:e-?mail|message|address)",
    # French, Italian, Dutch, Spanish, Polish, Swedish
    r"je (?:suis|serai) (?:absent|absente|en congé|en vacances)", r"réponse automatique",
    r"(?:sono|sarò) (?:fuori (?:sede|ufficio)|assente|in ferie)", r"risposta automatica",
    r"nous avons (?:bien )?reçu votre", r"abbiamo ricevuto (?:il (?:suo|tuo)|la (?:sua|tua))",
    *(rf"{lead} (?:bericht|e-?mail|aanvraag) (?:is )?(?:in goede orde )?ontvangen" for lead in ("uw", "je")), r"dit is een automatisch",
    r"otrzymali[śs]my (?:pana|pani|twoj[aą]|pa[ńn]stwa)? ?wiadomo", r"to jest automatyczn", r"jest to automatyczn",
    r"ceci est une réponse automatique", r"questa è una risposta automatica",
    r"ik ben .{0,40}?(?:afwezig|niet aanwezig|met vakantie|niet op kantoor)",
    r"(?:estoy|estaré) (?:fuera de la oficina|de vacaciones|ausente)", r"respuesta automática",
    r"jestem .{0,30}?(?:poza biurem|na urlopie|nieobecn)",
    r"jag är .{0,30}?(?:ledig|borta|på semester|tjänstledig|frånvarande)",
    # challenge-response and quarantine notices
    r"please (?:confirm|verify) (?:that )?you are (?:a )?(?:human|real person)",
    *(rf"{lead} (?:the|this) link (?:below )?to (?:confirm|verify|release)" for lead in ("click", "follow")),
    *(rf"{lead}[- ]?(?:verification|verifizierung|bestätigung)" for lead in ("sender", "absender")),
    *(rf"{lead}s? (?:has been |was |wurde[n]? )?(?:held|quarantined|in quarantäne)"
      for lead in ("message", "email", "e-mail", "nachricht")),
    r"spam[- ]?(?:quarantine|quarantäne|digest)",
))


def detect(mail: Mail) -> Verdict | None:
    subject = _SUBJECT_RE.match(mail.subject)
    lowered = _own_words(mail)
    body = next((m for m in (p.search(lowered) for p in _BODY_PATTERNS) if m), None)
    strong = subject is not None and not (subject.group("ack") or subject.group("weak"))
    envelope = _machine_envelope(mail)
    answers = bool(mail.header("In-Reply-To") or mail.header("References"))
    if not body and not strong and not (subject and subject.group("ack") and envelope and answers):
        return None  # "Ticket created ...", "Urlaub ab Montag": people write such subjects too
    evidence = []
    if subject:
        kind = ("out-of-office" if subject.group("ooo") or subject.group("weak") else
                "acknowledgement" if subject.group("ack") else "challenge/quarantine")
        evidence.append(f"{NAME}: {kind} subject {subject.group('kind')!r}" + ("" if strong else " (weak alone)"))
    if body:
        evidence.append(f"{NAME}: auto-reply wording {' '.join(body.group(0).split())[:80]!r}")
    confidence = 0.85 if strong and body else 0.7 if subject and body else 0.6 if subject else 0.5
    if body and not subject and _NO_REPLY_RE.match(mail.from_address):  # a no-reply sender's refusal: tag
        confidence = 0.75
        evidence.append(f"{NAME}: {envelope}")
    if subject and body and (answers or envelope):
        # Subject and text agree, and the mail answers one of ours or comes from a machine: an acknowledgement.
        confidence = min(0.9, confidence + 0.15)
        evidence.append(f"{NAME}: " + (envelope or "answers a mail (In-Reply-To/References)"))
    if subject and not body and envelope:  # an acknowledgement subject answering our mail from a machine envelope
        evidence.append(f"{NAME}: {envelope}, answers a mail (In-Reply-To/References)")
    if not strong and mail.source == "raw" and not answers and not envelope:
        # A responder answers something; wording in a mail that answers nothing is likely a person's own.
        confidence *= 0.7
        evidence.append(f"{NAME}: answers no mail (no In-Reply-To/References): weaker")
    return Verdict(category="auto_reply", confidence=confidence, evidence=tuple(evidence),
                   return_date=return_date(lowered, _mail_date(mail)))


_NO_REPLY_RE = re.compile(r"^(?:no[-_.]?reply|noreply|do[-_.]?not[-_.]?reply|donotreply|auto[-_.]?(?:reply|responder)|"
                          r"notifications?|ticket|support[-_.]?ticket)[^@]{0,30}@", re.I)


def _machine_envelope(mail: Mail) -> str:
    """Why the envelope looks machine-sent (RFC 3834 §3.3 null Return-Path, a no-reply sender, Precedence), or ''."""
    if mail.header("Return-Path").replace(" ", "") == "<>":
        return "null Return-Path (RFC 3834 responders send with an empty envelope sender)"
    if _NO_REPLY_RE.match(mail.from_address) or _NO_REPLY_RE.match(first_address(mail.header("Reply-To"))):
        return f"sent from a no-reply/ticket address ({mail.from_address[:60]})"
    if mail.header("Precedence").lower() in ("bulk", "junk", "auto_reply"):
        return f"Precedence: {mail.header('Precedence')[:20]}"
    return ""


# ---- return dates --------------------------------------------------------------------------------
_MONTHS = {
    "jan": 1, "januar": 1, "january": 1, "janvier": 1, "jänner": 1, "feb": 2, "februar": 2, "february": 2,
    "février": 2, "mär": 3, "märz": 3, "maerz": 3, "mar": 3, "march": 3, "mars": 3, "apr": 4, "april": 4, "avril": 4,
    "mai": 5, "may": 5, "jun": 6, "juni": 6, "june": 6, "juin": 6, "jul": 7, "juli": 7, "july": 7, "juillet": 7,
    "aug": 8, "august": 8, "août": 8, "sep": 9, "sept": 9, "september": 9, "septembre": 9, "okt": 10, "oct": 10,
    "oktober": 10, "october": 10, "octobre": 10, "nov": 11, "november": 11, "novembre": 11, "dez": 12, "dec": 12,
    "dezember": 12, "december": 12, "décembre": 12,
    # Italian, Spanish, Dutch, Swedish, Polish (genitive, as used after a day)
    "gennaio": 1, "febbraio": 2, "marzo": 3, "aprile": 4, "maggio": 5, "giugno": 6, "luglio": 7, "agosto": 8,
    "settembre": 9, "ottobre": 10, "dicembre": 12, "enero": 1, "febrero": 2, "abril": 4, "mayo": 5,
    "junio": 6, "julio": 7, "septiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12, "januari": 1,
    "februari": 2, "maart": 3, "mei": 5, "augustus": 8, "augusti": 8, "stycznia": 1, "lutego": 2,
    "marca": 3, "kwietnia": 4, "maja": 5, "czerwca": 6, "lipca": 7, "sierpnia": 8, "września": 9,
    "października": 10, "listopada": 11, "grudnia": 12,
}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
# The day the writer is back outranks the last day away ("bis 04.12. ... komme am 07.12. wieder").
_BACK = (r"(?:back(?: in (?:the|my) office)?(?: on)?|return(?:ing)? (?:to (?:the|my) "
         r"office )?on|returning|wieder (?:ab|am)|wieder (?:im büro|erreichbar|da|zurück)(?: ab| am|:)|zurück (?:am|ab)|de retour (?:le|à partir du)|di ritorno (?:il|dal)|rientro (?:il|previsto)|"
         r"terug op|weer aanwezig op|z powrotem)")
_BACK_BEFORE = r"\b(?:(?:komme|bin|sind wir|kommen wir) (?:am|ab)|ab)"  # ... <date> ... wieder / zurück
_BACK_AFTER = r"(?:\s+[\w.]+){0,3}?\s+(?:wieder|zurück)\b"
_UNTIL = (r"(?:bis(?:\s+(?:einschließlich|einschl\.|inkl\.|zum|am|voraussichtlich))*|until|till(?: och med(?: den)?)?|"
          r"through|to|jusqu'au|fino al|tot en met|t\.o\.m\.|hasta el|do)")
# Date forms after a lead word: 12.01.(2027), 12 January (2027), January 12(, 2027), 2027-01-12.
_DATE_FORMS = (
    r"\s+(?:\w+,?\s+)?(?:dem\s+|den\s+)?(\d{1,2})\.\s?(\d{1,2})\.(?:\s?(\d{2,4}))?",
    rf"\s+(?:\w+,?\s+)?(?:dem\s+|den\s+|the\s+)?(\d{{1,2}})(?:\.|st|nd|rd|th)?\s+(?:de\s+)?({_MONTH_NAMES})\.?"
    r"(?:\s+(?:de\s+)?(\d{4}))?",
    rf"\s+(?:\w+,?\s+)?({_MONTH_NAMES})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?",
    r"\s+(?:\w+,?\s+)?(\d{4})-(\d{2})-(\d{2})",
)
# (pattern, date form index), in order of preference: the day back first, then the last day away.
_DATE_PATTERNS = tuple(
    (re.compile(lead + form + trail), index)
    for lead, trail in ((_BACK, ""), (_BACK_BEFORE, _BACK_AFTER), (_UNTIL, ""))
    for index, form in enumerate(_DATE_FORMS)
)


def mail_return_date(mail: Mail) -> date | None:
    """The return date an out-of-office names in its own text (not in a quote), if any."""
    return return_date(_own_words(mail), _mail_date(mail))


def _own_words(mail: Mail) -> str:
    """The first lines the sender typed (above any quote), lower-cased: where wording and dates are looked for."""
    return own_text(mail.body_text[:WORDING_CHARS])[:WORDING_CHARS].lower()


def return_date(text: str, sent: date | None) -> date | None:
    """The day back ('komme am 07.12. wieder', 'back on 7 December'), else the first 'until <date>', in
    lower-cased text; a year-less date is the next such day after the mail was sent."""
    if not any(ch.isdigit() for ch in text):
        return None  # every date form has a day number
    for pattern, index in _DATE_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        a, b, year_text = match.groups()
        try:
            if index == 0:
                day, month = int(a), int(b)
            elif index == 1:
                day, month = int(a), _MONTHS[b.lower()]
            elif index == 2:
                day, month = int(b), _MONTHS[a.lower()]
            else:
                return date(int(a), int(b), int(year_text))
            if year_text:
                year = int(year_text) + (2000 if len(year_text) == 2 else 0)
                return date(year, month, day)
            base = sent or date.today()
            candidate = date(base.year, month, day)
            return candidate if candidate >= base else date(base.year + 1, month, day)
        except (ValueError, KeyError):
            continue
    return None


def _mail_date(mail: Mail) -> date | None:
    try:
        parsed: datetime = parsedate_to_datetime(mail.header("Date"))
        return parsed.date()
    except (TypeError, ValueError, IndexError):
        return None


DETECTOR = Detector(NAME, Trust.WORDING, detect)
