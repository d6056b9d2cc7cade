"""`flask --app app classify`: the classifier on files, folders or stdin, as a table or JSON lines.

A `.json` file is a Znuny invoker request body (bare, or the capture wrapper of
../shared/otrs-wire with `body_json`) and goes through the article adapter, so the
payload path can be scored exactly like the raw path.
"""
from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

import click

from . import fastjson
from .classify import classify, classify_article
from .mime import parse
from .verdict import Verdict, human
from .znuny import Article, Ticket, parse_request

MAX_INPUT_BYTES = 64 * 1024 * 1024  # larger files are refused with an error verdict, not read


# A file in a folder is a mail when its first line is a header field or an mbox "From " line
# (RFC 5322 §2.2: printable ASCII but ':' before the colon); the rest (README.md, notes) is skipped.
_MAIL_START_RE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]{1,76}:")
SIDECAR_SUFFIX = ".expect.json"  # expected verdicts beside fixture mails (fixtures/mails/README.md)


def iter_inputs(paths: tuple[str, ...]) -> Iterator[str]:
    """Files as given; folders walked recursively in sorted order, yielding only mails (see `is_mail_file`);
    '-' is stdin."""
    for path in paths:
        if path == "-" or not os.path.isdir(path):
            yield path
            continue
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                if not name.startswith(".") and is_mail_file(os.path.join(root, name)):
                    yield os.path.join(root, name)


def is_mail_file(path: str) -> bool:
    """Whether a file found in a folder is input: a Znuny invoker request (.json, but not a `.expect.json`
    sidecar) or a mail whose first line is a header field; unreadable files count, so they are reported."""
    if path.endswith(SIDECAR_SUFFIX):
        return False
    try:
        if path.endswith(".json"):
            return _invoker_request(read_input(path)) is not None
        with open(path, "rb") as fh:
            head = fh.read(4096).lstrip(b"\r\n")
    except OSError:
        return True
    return _MAIL_START_RE.match(head) is not None


def read_input(path: str) -> bytes:
    """The bytes of one input ('-' is stdin), at most MAX_INPUT_BYTES + 1. Raises OSError."""
    if path == "-":
        return sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    with open(path, "rb") as fh:
        return fh.read(MAX_INPUT_BYTES + 1)


def classify_path(path: str) -> Verdict:
    """Classify one input. Raises OSError when it cannot be read; a file too large or a body that is no
    invoker request becomes a human verdict with `error`."""
    raw = read_input(path)
    if len(raw) > MAX_INPUT_BYTES:
        return human(error=f"file larger than {MAX_INPUT_BYTES} bytes", confidence=0.5)
    if path.endswith(".json"):
        return _classify_json(raw)
    return classify(parse(raw))


def _classify_json(raw: bytes) -> Verdict:
    try:
        ticket, article = _parse_invoker(raw)
    except (ValueError, AttributeError) as exc:
        return human(error=f"not a Znuny invoker request: {exc}", confidence=0.5)
    return classify_article(article, ticket)


def _invoker_request(raw: bytes) -> tuple[Ticket, Article] | None:
    try:
        return _parse_invoker(raw)
    except (ValueError, AttributeError):
        return None


def _parse_invoker(raw: bytes) -> tuple[Ticket, Article]:
    """An invoker request body, bare or in the otrs-wire capture wrapper (`body_json`). Raises ValueError."""
    doc: Any = fastjson.loads(raw)
    body = doc.get("body_json", doc) if isinstance(doc, dict) else doc
    return parse_request(body)


@click.command("classify")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per mail instead of a table.")
@click.argument("paths", nargs=-1, required=True)
def classify_command(as_json: bool, paths: tuple[str, ...]) -> None:
    """Classify mails: files, folders (recursively) or - for stdin; .json files are Znuny invoker bodies."""
    failed = 0
    for path in iter_inputs(paths):
        try:
            verdict = classify_path(path)
        except OSError as exc:
            click.echo(f"cannot read {path}: {exc.strerror or exc}", err=True)
            failed += 1
            continue
        if as_json:
            click.echo(json.dumps({"path": path, **verdict.to_dict()}, ensure_ascii=False))
        else:
            detail = verdict.bounce_type or ""
            rcpt = ",".join(verdict.recipients[:2])
            why = verdict.error or (verdict.evidence[0] if verdict.evidence else "")
            click.echo(f"{verdict.category:<15} {detail:<4} {verdict.confidence:4.2f} {rcpt[:40]:<40} {path}"
                       f"  | {why[:90]}")
    if failed:
        raise SystemExit(1)
