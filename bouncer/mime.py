"""Raw RFC 822 bytes -> `Mail`: a small, lenient, bounded MIME splitter built for classification.

It reads only what detection needs: the headers of every part, the decoded text of
text/* and message/* parts (capped), and enclosed messages down to a fixed depth.
Attachments are sized, never decoded. Broken structure (a missing boundary, a
truncated mail, a part without its blank line) is read as text instead of refused,
and recorded in `Mail.error`; nothing here raises on any input.

Why not flanker (the design card's parser): on the dev corpus flanker parses about
600-800 mails/s, a quarter of the 2,500 mails/s target, refuses 17 of 673 real mails
as malformed, and its 2019 release warns on import. See README "Deviations".
"""
from __future__ import annotations

import binascii
import codecs
import email.errors
import email.header
import re
from urllib.parse import unquote

from .mail import TEXT_CAP, Headers, Mail, Part

MESSAGE_TYPES = ("message/rfc822", "message/global")
HEADER_TYPES = ("text/rfc822-headers", "message/global-headers", "message/rfc822-headers")
# A report stands at the top of a mail; reading at most this much keeps a 25 MB attachment cheap.
MAX_PARSE_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 4  # enclosed messages (a bounce of a forward of a bounce ...)
MAX_NESTING = 16  # multipart inside multipart
MAX_PARTS = 200
_ENCODED_CAP = TEXT_CAP * 2  # encoded bytes of a text part worth decoding (base64 grows by 4/3)

_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:|[ \t]")
_HEADER_BLOCK = re.compile(rb"(?:[!-9;-~]+[ \t]*:[^\n]*(?:\n|\Z)|[ \t][^\n]*(?:\n|\Z))*")  # only header lines
_FIELD = re.compile(r"\n(?![ \t])")  # a header ends where the next line does not start with blanks
_FOLD = re.compile(r"\n[ \t]+")
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
# Text codecs that are no mail charset: they decode any bytes to something else or fail oddly.
_NOT_CHARSETS = frozenset({"punycode", "idna", "raw-unicode-escape", "unicode-escape", "undefined", "mbcs", "oem"})


class _Budget:
    """Counts parts across the whole tree so hostile nesting stays bounded."""

    def __init__(self) -> None:
        self.parts = 0
        self.problems: list[str] = []


def parse(raw: bytes, depth: int = 0) -> Mail:
    """Parse mail bytes; never raises. Problems are noted in `Mail.error`."""
    budget = _Budget()
    size = len(raw)
    if size > MAX_PARSE_BYTES:
        raw = raw[:MAX_PARSE_BYTES]
        budget.problems.append(f"only the first {MAX_PARSE_BYTES} of {size} bytes read")
    if not raw.strip():
        budget.problems.append("empty input")
    try:
        mail = _message(raw, depth, budget)
    except (RecursionError, MemoryError, ValueError) as exc:  # last line of defence; the splitter is bounded
        mail = Mail(headers=Headers(), depth=depth, parts=[Part("text/plain", text=decode(raw[:TEXT_CAP], None))])
        budget.problems.append(f"unparsable: {type(exc).__name__}")
    mail.size = size
    if budget.problems:
        mail.error = "; ".join(dict.fromkeys(budget.problems))
    return mail


def parse_headers_only(text: str, depth: int) -> Mail:
    """A text/rfc822-headers part: headers of the original, no body."""
    return Mail(headers=_headers(_split(text.encode("utf-8", "surrogateescape"))[0]), depth=depth)


def _message(raw: bytes, depth: int, budget: _Budget) -> Mail:
    head, body = _split(raw)
    headers = _headers(head)
    ctype, params = content_type(headers.get("Content-Type"), budget.problems)
    mail = Mail(headers=headers, content_type=ctype, params=params, depth=depth)
    _entity(headers, ctype, params, body, mail, depth, 0, budget)
    return mail


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """Header block and body. The headers end at the blank line, or (leniently) at the first
    line that is no header line, as in parts that forget the blank line."""
    if raw.startswith(b"From "):  # mbox separator line
        raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    start, end = _blank_line(raw)
    block = _HEADER_BLOCK.match(raw, 0, start) if start >= 0 else None  # matches always: lines or none
    if block is not None and block.end() == start:
        return raw[:start], raw[end:]  # the usual case, without a loop
    position, size = 0, len(raw)
    while position < size:
        end = raw.find(b"\n", position)
        end = size if end == -1 else end
        line = raw[position:end]
        if line in (b"", b"\r"):
            return raw[:position], raw[end + 1:]
        if not _HEADER_LINE.match(line):
            return raw[:position], raw[position:]
        position = end + 1
    return raw, b""


def _blank_line(raw: bytes) -> tuple[int, int]:
    """(start, end) of the first blank line (LF or CRLF), or (-1, -1); bytes.find beats a regex here."""
    lf, crlf = raw.find(b"\n\n"), raw.find(b"\r\n\r\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, crlf + 4
    if lf >= 0:
        return (lf - 1, lf + 2) if lf and raw[lf - 1:lf] == b"\r" else (lf, lf + 2)  # "\r\n\n"
    return -1, -1


def _headers(head: bytes) -> Headers:
    items = []
    for field in _FIELD.split(_text(head).replace("\r\n", "\n")):
        key, colon, rest = field.partition(":")
        key = key.strip()
        if not colon or not key or " " in key or "\t" in key:
            continue  # not a header line (garbage, or an mbox 'From ' line)
        items.append((key, _decode_words((_FOLD.sub(" ", rest) if "\n" in rest else rest).strip())))
    return Headers(items)


def content_type(value: str | None, problems: list[str] | None = None) -> tuple[str, dict[str, str]]:
    """'multipart/report; report-type=delivery-status; boundary="x"' -> ('multipart/report', {...})."""
    if not value:
        return "text/plain", {}
    main, _, rest = value.partition(";")
    main = main.strip().lower()
    if "/" not in main:
        main = "text/plain"
    return main, params(";" + rest, problems)


def params(text: str, problems: list[str] | None = None) -> dict[str, str]:
    """MIME parameters, with RFC 2231 continuations (name*0*=utf-8''...) joined and decoded.

    A charset that is unknown or no text encoding is read as UTF-8 (undecodable bytes replaced) and
    noted in `problems`."""
    found: dict[str, str] = {}
    pieces: dict[str, dict[int, tuple[str, bool]]] = {}
    for key, raw in _PARAM.findall(text):
        key = key.lower()
        value = raw.strip()
        if value.startswith('"') and value.endswith('"') and len(value) > 1:
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        if "*" in key:
            base, _, index = key.partition("*")
            encoded = index.endswith("*") or index == ""
            number = int(index.rstrip("*") or 0) if index.rstrip("*").isdigit() or not index.rstrip("*") else 0
            pieces.setdefault(base, {})[number] = (value, encoded)
            continue
        found.setdefault(key, value)
    for base, parts in pieces.items():
        joined = ""
        charset = "utf-8"
        for number in sorted(parts):
            value, encoded = parts[number]
            if encoded and number == 0 and value.count("'") >= 2:
                charset, _, value = value.split("'", 2)
                try:
                    charset = _text_codec(charset or "utf-8")
                except LookupError:
                    if problems is not None:
                        problems.append(f"parameter {base}: unknown charset {charset[:40]!r}, read as UTF-8")
                    charset = "utf-8"
            joined += unquote(value, encoding=charset, errors="replace") if encoded else value
        found.setdefault(base, joined)
    return found


def _entity(headers: Headers, ctype: str, ctparams: dict[str, str], body: bytes, mail: Mail, depth: int,
            nesting: int, budget: _Budget) -> None:
    budget.parts += 1
    if budget.parts > MAX_PARTS:
        budget.problems.append(f"more than {MAX_PARTS} MIME parts: the rest is not read")
        return
    if ctype.startswith("multipart/"):
        children = _children(body, ctparams.get("boundary", ""), budget)
        if children is not None and nesting < MAX_NESTING:
            for child in children:
                head, child_body = _split(child)
                child_headers = _headers(head)
                child_type, child_params = content_type(child_headers.get("Content-Type"), budget.problems)
                if not child_headers.get("Content-Type") and ctype == "multipart/digest":
                    child_type = "message/rfc822"
                _entity(child_headers, child_type, child_params, child_body, mail, depth, nesting + 1, budget)
            return
        if nesting >= MAX_NESTING:
            budget.problems.append(f"multiparts nested deeper than {MAX_NESTING}")
        ctype = "text/plain"  # no usable boundary: the raw body is still readable text
    disposition, dparams = content_type(headers.get("Content-Disposition") or "x/x", budget.problems)
    filename = dparams.get("filename") or ctparams.get("name")
    part = Part(content_type=ctype, params=ctparams, filename=_decode_words(filename) if filename else None,
                disposition=disposition.split("/")[0] if headers.get("Content-Disposition") else None, size=len(body))
    encoding = (headers.get("Content-Transfer-Encoding") or "").strip().lower()
    if ctype in MESSAGE_TYPES:
        if depth < MAX_DEPTH:
            part.message = _message(_transfer_decode(body, encoding), depth + 1, budget)
        else:
            budget.problems.append(f"messages enclosed deeper than {MAX_DEPTH}: not read")
    elif ctype.startswith(("text/", "message/")) or (ctype == "application/octet-stream" and not filename):
        data = _transfer_decode(body[:_ENCODED_CAP], encoding)
        part.text = decode(data, ctparams.get("charset"))[:TEXT_CAP]
        if ctype in HEADER_TYPES and depth < MAX_DEPTH:
            part.message = Mail(headers=_headers(_split(data.lstrip(b"\r\n"))[0]), depth=depth + 1)
    mail.parts.append(part)


def _children(body: bytes, boundary: str, budget: _Budget) -> list[bytes] | None:
    """The parts between boundary lines; None when the boundary is missing or never used."""
    if not boundary:
        budget.problems.append("multipart without boundary: read as text")
        return None
    marker = b"--" + boundary.encode("utf-8", "replace")
    children: list[bytes] = []
    start: int | None = None  # where the current part's content begins
    closed = False
    position = body.find(marker)
    while position != -1:
        line_end = body.find(b"\n", position)
        line_end = len(body) if line_end == -1 else line_end
        after = body[position + len(marker):line_end].rstrip(b"\r \t")
        at_line_start = position == 0 or body[position - 1:position] == b"\n"
        if at_line_start and after in (b"", b"--"):
            if start is not None:
                cut = position - 1 if position else 0
                if cut > start and body[cut - 1:cut] == b"\r":
                    cut -= 1
                children.append(body[start:max(start, cut)])
            if after == b"--":
                closed = True
                break
            start = line_end + 1
        position = body.find(marker, line_end)
    if start is None:
        budget.problems.append("multipart boundary never found: read as text")
        return None
    if not closed:
        children.append(body[start:])
        budget.problems.append("multipart not closed (truncated mail?)")
    return children


def _transfer_decode(data: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        clean = _NOT_BASE64.sub(b"", data)
        if data.rstrip().endswith(b"=") and len(clean) % 4 > 1:
            clean += b"=" * (4 - len(clean) % 4)  # the padded last quantum holds the last one or two bytes
        else:
            clean = clean[: len(clean) - len(clean) % 4]  # a cut-off read: drop the partial quantum
        try:
            return binascii.a2b_base64(clean)
        except binascii.Error:
            return data
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    return data


def decode(data: bytes, charset: str | None) -> str:
    """Bytes to text with the declared charset, else UTF-8, else Latin-1 (never fails)."""
    for enc in (charset, "utf-8"):
        if not enc:
            continue
        try:
            return data.decode(_text_codec(enc))
        except (LookupError, UnicodeError, ValueError, TypeError):  # unknown, not a text codec, or it fails
            continue
    return data.decode("latin-1")


def _text_codec(charset: str) -> str:
    """The codec for a declared charset; LookupError unless it is a text encoding (mail may name
    'rot13', 'base64' or 'punycode': only real charsets decode mail)."""
    name = charset.strip().strip('"')
    info = codecs.lookup(name)
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        raise LookupError(name)
    return info.name


def _text(value: bytes) -> str:
    """A raw header block: ASCII as is, 8-bit as UTF-8 when valid, else Latin-1."""
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")


def _decode_words(value: str) -> str:
    if "=?" not in value:
        return value
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError, binascii.Error, email.errors.MessageError):
        return value  # a broken encoded word stays as written
