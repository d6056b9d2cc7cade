"""The mail as filters see it: a small, parser-independent model.

Filters never see a parser's objects or Znuny JSON. Both inputs (raw RFC 822 bytes through
`bouncer.mime`, a Znuny invoker article through `bouncer.article`) are turned into
this one model, so a rule written once holds on both paths.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from functools import cached_property
from typing import Literal

# Filters read at most this much decoded text per part: detection needs the top of a
# report, and a cap keeps time and memory flat on hostile input.
TEXT_CAP = 64 * 1024
# A header value is cut here before any rule reads it. RFC 5322 lines end at 998 characters; long
# folded To/References stay far below this, while MTAs accept headers of 100 KB and more.
HEADER_CAP = 16 * 1024
MAX_HEADERS = 1000  # fields kept per header block; the rest is dropped (a mail has a few dozen)

Source = Literal["raw", "znuny"]

# Domains are matched in ASCII (IDNs travel as punycode): CJK text glued to an address stays out.
# The look-behind makes a match start only where a run of local-part characters starts: without
# it a long run without "@" is rescanned from every position inside it (quadratic time).
_LOCAL = r"[\w.!#$%&'*+/=?^`{|}~-]"
_ADDR_RE = re.compile(rf"(?<!{_LOCAL}){_LOCAL}++@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)+")
_PREFIX_RE = re.compile(r"^(?:smtp|rfc822|x400|ex)[=:]")
# Linear on "<<<<..." and on unclosed <script>: a tag ends at the next "<" or ">", and a script or
# style without its end tag runs to the end of the text instead of being tried again at every "<script".
_TAG_RE = re.compile(r"<(script|style)\b.*?(?:</\1\s*>|\Z)|<[^<>]*>", re.S | re.I)
_BREAK_RE = re.compile(r"<br\s*/?>|</p>|</div>|</tr>", re.I)
_WS_RE = re.compile(r"[ \t\r\f\v]+")


class Headers:
    """Ordered, case-insensitive multi-map of decoded header values.

    The lookup index is built on first use: most headers of enclosed originals are never asked for.
    Values are cut at HEADER_CAP and at most MAX_HEADERS fields are kept, so every rule that reads
    a header reads a bounded string.
    """

    __slots__ = ("_items", "_index")

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = [(name, value[:HEADER_CAP]) for name, value in (items or ())][:MAX_HEADERS]
        self._index: dict[str, list[str]] | None = None

    def add(self, name: str, value: str) -> None:
        """Append a field; values are cut at HEADER_CAP and fields past MAX_HEADERS are dropped."""
        if len(self._items) >= MAX_HEADERS:
            return
        value = value[:HEADER_CAP]
        self._items.append((name, value))
        if self._index is not None:
            self._index.setdefault(name.lower(), []).append(value)

    def _lookup(self) -> dict[str, list[str]]:
        if self._index is None:
            index: dict[str, list[str]] = {}
            for name, value in self._items:
                index.setdefault(name.lower(), []).append(value)
            self._index = index
        return self._index

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._lookup().get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._lookup().get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Part:
    """One leaf of the MIME tree (or an attachment of a Znuny article)."""

    content_type: str  # lower-case "main/sub"
    params: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    disposition: str | None = None
    text: str = ""  # decoded text, capped at TEXT_CAP; for message/* the raw part as text
    message: Mail | None = None  # parsed enclosure of message/rfc822 (and text/rfc822-headers)
    size: int = 0

    @property
    def main(self) -> str:
        return self.content_type.split("/", 1)[0]


@dataclass
class Mail:
    """A parsed mail. `source` says which path it came through, since the Znuny path lacks most headers."""

    headers: Headers
    content_type: str = "text/plain"
    params: dict[str, str] = field(default_factory=dict)
    parts: list[Part] = field(default_factory=list)
    source: Source = "raw"
    size: int = 0
    error: str | None = None  # set when the parser had to fall back or gave up
    depth: int = 0
    # Facts that are not headers, e.g. Znuny's ticket flag set by its own bounce detector.
    hints: dict[str, str] = field(default_factory=dict)

    # ---- headers -------------------------------------------------------------------------
    def header(self, name: str) -> str:
        return (self.headers.get(name) or "").strip()

    @cached_property
    def subject(self) -> str:
        return _WS_RE.sub(" ", self.header("Subject").replace("\n", " ")).strip()

    @cached_property
    def from_header(self) -> str:
        return self.header("From")

    @cached_property
    def from_address(self) -> str:
        return first_address(self.from_header)

    @property
    def message_id(self) -> str:
        return self.header("Message-ID")

    @property
    def report_type(self) -> str:
        return self.params.get("report-type", "").lower()

    # ---- parts ---------------------------------------------------------------------------
    def find(self, *content_types: str) -> Iterator[Part]:
        """Parts of this mail (not of enclosed messages) whose type is one of `content_types`."""
        wanted = {c.lower() for c in content_types}
        return (p for p in self.parts if p.content_type in wanted)

    def first(self, *content_types: str) -> Part | None:
        return next(self.find(*content_types), None)

    @cached_property
    def enclosed(self) -> Mail | None:
        """The returned/quoted original as a mail: message/rfc822 first, then text/rfc822-headers."""
        for ctype in ("message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers"):
            for part in self.find(ctype):
                if part.message is not None:
                    return part.message
        return None

    @cached_property
    def body_text(self) -> str:
        """The readable body: text/plain parts outside enclosures, else HTML stripped of tags."""
        plain = [p.text for p in self.parts if p.content_type == "text/plain" and not _is_file(p)]
        if plain:
            return "\n".join(plain)[:TEXT_CAP]
        html = [p.text for p in self.parts if p.content_type == "text/html" and not _is_file(p)]
        if html:
            return html_to_text("\n".join(html))[:TEXT_CAP]
        return ""


def _is_file(part: Part) -> bool:
    return (part.disposition or "").lower() == "attachment" and bool(part.filename)


def html_to_text(markup: str) -> str:
    """Good-enough tag stripping for detection (not for display: pages escape the raw text)."""
    return html.unescape(_TAG_RE.sub(" ", _BREAK_RE.sub("\n", markup)))


def first_address(value: str) -> str:
    """The first e-mail address in a header value, lower-cased ('' if none)."""
    found = addresses(value)
    return found[0] if found else ""


def addresses(value: str) -> list[str]:
    """E-mail addresses in free text, lower-cased, without quoting debris or 'smtp='-style prefixes."""
    out = []
    for raw in _ADDR_RE.findall(value or ""):
        address = _PREFIX_RE.sub("", raw.lower()).strip(".'`=")
        if "@" in address and address not in out:
            out.append(address)
    return out


def valid_address(value: str) -> str | None:
    """`value` as one bare e-mail address typed by a person (lower case, the domain as typed), or None.

    The same rule as `addresses` reads from mail, applied to the whole value; an internationalised
    domain (IDNA, RFC 5891: 'münchen.de') is checked in its ASCII form ('xn--mnchen-3ya.de').
    """
    local, at, domain = value.strip().lower().rpartition("@")
    if not at or not local or not domain:
        return None
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if not _ADDR_RE.fullmatch(f"{local}@{ascii_domain}") or ascii_domain.rpartition(".")[2].isdigit():
        return None
    return f"{local}@{domain}"


_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def message_ids(value: str | None) -> list[str]:
    """Message-IDs in `<...>` form, so `abc@x` and `<abc@x>` match each other."""
    if not value or not value.strip():
        return []
    return _MESSAGE_ID.findall(value) or [f"<{value.strip().strip('<>')}>"]


_PARSEADDR_MAX = 998  # RFC 5322's line length; email.utils.parseaddr recursed out of the stack on longer values


def bare_address(value: str | None) -> str | None:
    """Bare lower-case address from `Name <a@b>` or `rfc822; a@b`; None if it is not one."""
    value = (value or "").rpartition(";")[2].strip()
    if "<" not in value and " " not in value and '"' not in value:
        address = value.lower()  # already bare: the classifier's recipients are (parseaddr is slow)
    elif len(value) <= _PARSEADDR_MAX:
        try:
            address = parseaddr(value)[1].strip().lower()
        except RecursionError:  # the standard parser recurses once per ':' group ("a:a:a:...")
            address = first_address(value)
    else:  # a From of kilobytes is no display name and address: the first address in it
        address = first_address(value)
    return address if "@" in address else None


def mail_date(value: str | None) -> datetime | None:
    """A Date header (RFC 2822, or ISO as some parsers give it) as aware UTC; None if unreadable or implausible."""
    if not value or not value.strip():
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if not plausible_year(moment):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def plausible_year(moment: datetime) -> bool:
    """A time of mail or of a mailing: 1970 to 2999. Year 1 or 9999 is a typo or an attack, and a window of
    days around it overflows `datetime`."""
    return 1970 <= moment.year <= 2999


_LIST_SEPARATORS = re.compile(r"[,;\s]+")


def recipient_list(text: str) -> tuple[list[str], list[str]]:
    """(bare lower-case addresses, entries that are none, as written) of a pasted list: one per line, or
    separated by commas, semicolons or spaces as spreadsheets and mail clients export them; a line with
    display names (`Anna <a@b>, "Bert, B." <b@c>`) is read as an RFC 5322 address list
    (email.utils.getaddresses), and reported whole when an entry in it is no address."""
    found: list[str] = []
    wrong: list[str] = []
    for line in text.splitlines():
        if "<" in line or '"' in line:
            named = [valid_address(entry) for _name, entry in getaddresses([line.replace(";", ",")]) if entry.strip()]
            if all(named):
                found += [a for a in named if a]
            else:
                wrong.append(line.strip())
            continue
        for entry in _LIST_SEPARATORS.split(line):
            if entry:
                address = valid_address(entry)
                (found if address else wrong).append(address or entry)
    return list(dict.fromkeys(found)), wrong


def address_spellings(address: str) -> list[str]:
    """A bare address as mail systems may write it: as given, and with its domain in IDNA ASCII
    (`xn--`, RFC 5891) or in Unicode, so `a@münchen.de` and `a@xn--mnchen-3ya.de` are one address."""
    local, at, domain = address.rpartition("@")
    spellings = [address]
    if not at or (domain.isascii() and "xn--" not in domain):  # nothing else to spell (most mail: cheap)
        return spellings
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
        unicode_domain = ascii_domain.encode("ascii").decode("idna")
    except (UnicodeError, ValueError):  # not a domain IDNA can write: only as given
        return spellings
    for other in (ascii_domain, unicode_domain):
        if f"{local}@{other}" not in spellings:
            spellings.append(f"{local}@{other}")
    return spellings
