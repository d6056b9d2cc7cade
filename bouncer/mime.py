"""Raw RFC 822 bytes -> `Mail`: the one place that knows flanker.

flanker 0.9.11 (2019) is the newest release; it still works but warns on import and
its address parser prints yacc table noise the first time. Both are contained here,
so the rest of the code never imports flanker and the parser could be swapped.
Malformed MIME that flanker refuses falls back to the standard library's lenient
parser; if even that fails the mail keeps its headers and raw text, never crashes.
"""
from __future__ import annotations

import contextlib
import email
import email.header
import email.policy
import io
import re
import warnings
from email.message import Message
from typing import Any

from .mail import TEXT_CAP, Headers, Mail, Part

# Detection needs the top of a mail: bounces and receipts put their report first.
# Parsing at most this many bytes keeps a 25 MB attachment from costing seconds.
MAX_PARSE_BYTES = 2 * 1024 * 1024
# Enclosed messages nest (a bounce of a bounce of a forward...); deeper ones are not parsed.
MAX_DEPTH = 4
MESSAGE_TYPES = ("message/rfc822", "message/global")
HEADER_TYPES = ("text/rfc822-headers", "message/global-headers")
_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n")

with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
    warnings.simplefilter("ignore")
    from flanker import mime as _flanker_mime  # noqa: E402
    from flanker.mime.message.errors import MimeError as _FlankerError  # noqa: E402


def parse(raw: bytes, depth: int = 0) -> Mail:
    """Parse raw mail bytes; always returns a Mail (with `error` set when something was off)."""
    size = len(raw)
    error = None
    if size > MAX_PARSE_BYTES:
        raw = raw[:MAX_PARSE_BYTES]
        error = f"truncated to {MAX_PARSE_BYTES} of {size} bytes"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            root = _flanker_mime.from_string(raw)
            mail = _from_flanker(root, depth)
    except (_FlankerError, RecursionError, ValueError, LookupError, TypeError, AttributeError,
            UnicodeError, IndexError, KeyError, AssertionError) as exc:
        mail = _from_stdlib(raw, depth)
        error = f"{error}; " if error else ""
        error += f"flanker: {type(exc).__name__}: {str(exc)[:120]}; used fallback parser"
    mail.size = size
    if error:
        mail.error = f"{mail.error}; {error}" if mail.error else error
    return mail


def parse_headers_only(text: str, depth: int) -> Mail:
    """A text/rfc822-headers part: headers of the original, no body."""
    head = _BLANK_LINE.split(text.lstrip("\r\n"), 1)[0]
    return parse(head.encode("utf-8", "surrogateescape") + b"\n\n", depth)


# ---- flanker ---------------------------------------------------------------------------------
def _from_flanker(root: Any, depth: int) -> Mail:
    headers = Headers([(str(k), _as_text(v)) for k, v in root.headers.iteritems()])
    ctype = root.content_type
    mail = Mail(headers=headers, content_type=f"{ctype.main}/{ctype.sub}".lower(),
                params={k.lower(): str(v) for k, v in (ctype.params or {}).items()}, depth=depth)
    _collect_flanker(root, mail, depth)
    return mail


def _collect_flanker(node: Any, mail: Mail, depth: int) -> None:
    if node.content_type.is_multipart():
        for child in node.parts:
            _collect_flanker(child, mail, depth)
        return
    ctype = f"{node.content_type.main}/{node.content_type.sub}".lower()
    disposition, dparams = node.content_disposition
    filename = (dparams or {}).get("filename") or node.content_type.params.get("name")
    part = Part(content_type=ctype, params={k.lower(): str(v) for k, v in node.content_type.params.items()},
                filename=str(filename) if filename else None, disposition=disposition)
    enclosed = getattr(node, "enclosed", None) if ctype in MESSAGE_TYPES + HEADER_TYPES else None
    if enclosed is not None:
        if depth < MAX_DEPTH:
            part.message = _from_flanker(enclosed, depth + 1)
    elif node.content_type.main in ("text", "message") or ctype == "application/octet-stream" and not filename:
        body = node.body
        if body is None:  # flanker reads some report parts as header-only messages: take them as text
            body = _BLANK_LINE.split(node.to_string(), 1)[-1]
        text = body if isinstance(body, str) else decode(body, node.content_type.params.get("charset"))
        part.size = len(text)
        part.text = text[:TEXT_CAP]
        if ctype in HEADER_TYPES and depth < MAX_DEPTH:
            part.message = parse_headers_only(part.text, depth + 1)
    mail.parts.append(part)


# ---- standard library fallback ---------------------------------------------------------------
def _from_stdlib(raw: bytes, depth: int) -> Mail:
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception as exc:  # the stdlib parser is lenient; this is the last line of defence
        return Mail(headers=Headers(), error=f"unparsable: {type(exc).__name__}", depth=depth,
                    parts=[Part("text/plain", text=decode(raw[:TEXT_CAP], None))])
    headers = Headers([(k, _decode_header(v)) for k, v in msg.items()])
    mail = Mail(headers=headers, content_type=msg.get_content_type().lower(),
                params={k.lower(): v for k, v in (msg.get_params() or [])[1:] if isinstance(v, str)}, depth=depth)
    _collect_stdlib(msg, mail, depth)
    return mail


def _collect_stdlib(node: Message, mail: Mail, depth: int) -> None:
    ctype = node.get_content_type().lower()
    payload = node.get_payload()
    if node.is_multipart() and ctype not in MESSAGE_TYPES:
        for child in payload if isinstance(payload, list) else ():
            _collect_stdlib(child, mail, depth)
        return
    part = Part(content_type=ctype, params={k.lower(): v for k, v in (node.get_params() or [])[1:] if isinstance(v, str)},
                filename=node.get_filename(), disposition=node.get_content_disposition())
    if ctype.startswith("multipart/"):
        # A multipart whose boundary is missing or broken: its raw body is still readable text.
        part.content_type = "text/plain"
        ctype = "text/plain"
    if ctype in MESSAGE_TYPES:
        if isinstance(payload, list) and payload and depth < MAX_DEPTH:
            part.message = _from_stdlib(payload[0].as_bytes(), depth + 1)
    elif ctype.startswith(("text/", "message/")):
        data = node.get_payload(decode=True)
        if data is None:
            data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
        text = decode(data, node.get_content_charset())
        part.size = len(text)
        part.text = text[:TEXT_CAP]
        if ctype in HEADER_TYPES and depth < MAX_DEPTH:
            part.message = parse_headers_only(part.text, depth + 1)
    mail.parts.append(part)


def _decode_header(value: Any) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except Exception:
        return str(value)


# ---- helpers ---------------------------------------------------------------------------------
def _as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return decode(value, None)
    if isinstance(value, tuple):  # flanker gives (value, params) for parametrized headers
        main, params = value
        return "; ".join([str(main)] + [f'{k}="{v}"' for k, v in (params or {}).items()])
    return str(value)


def decode(data: bytes, charset: str | None) -> str:
    """Bytes to text with the declared charset, else UTF-8, else Latin-1 (never fails)."""
    for enc in (charset, "utf-8"):
        if not enc:
            continue
        try:
            return data.decode(enc)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")
