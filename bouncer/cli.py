"""`flask --app app classify`: the classifier on files, folders or stdin, as a table or JSON lines.

A `.json` file is a Znuny invoker request body (bare, or the capture wrapper of
../shared/otrs-wire with `body_json`) and goes through the article adapter, so the
payload path can be scored exactly like the raw path.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from . import fastjson
from .classify import classify, classify_article
from .mime import parse
from .verdict import Verdict, human
from .znuny import parse_request

MAX_INPUT_BYTES = 64 * 1024 * 1024  # larger files are refused with an error verdict, not read


def iter_inputs(paths: tuple[str, ...]) -> Iterator[str]:
    """Files as given; folders walked recursively in sorted order; '-' is stdin."""
    for path in paths:
        if path == "-" or not os.path.isdir(path):
            yield path
            continue
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                if not name.startswith("."):
                    yield os.path.join(root, name)


def classify_path(path: str) -> Verdict:
    """Classify one input; any problem becomes a human verdict with `error`, never an exception."""
    try:
        if path == "-":
            raw = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            if os.path.getsize(path) > MAX_INPUT_BYTES:
                return human(error=f"file larger than {MAX_INPUT_BYTES} bytes", confidence=0.5)
            raw = Path(path).read_bytes()
    except OSError as exc:
        return human(error=f"cannot read: {exc.strerror or exc}", confidence=0.5)
    if path.endswith(".json"):
        return _classify_json(raw)
    return classify(parse(raw))


def _classify_json(raw: bytes) -> Verdict:
    try:
        doc: Any = fastjson.loads(raw)
        body = doc.get("body_json", doc) if isinstance(doc, dict) else doc
        ticket, article = parse_request(body)
    except (ValueError, AttributeError) as exc:
        return human(error=f"not a Znuny invoker request: {exc}", confidence=0.5)
    return classify_article(article, ticket)


@click.command("classify")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per mail instead of a table.")
@click.argument("paths", nargs=-1, required=True)
def classify_command(as_json: bool, paths: tuple[str, ...]) -> None:
    """Classify mails: files, folders (recursively) or - for stdin; .json files are Znuny invoker bodies."""
    for path in iter_inputs(paths):
        verdict = classify_path(path)
        if as_json:
            click.echo(json.dumps({"path": path, **verdict.to_dict()}, ensure_ascii=False))
        else:
            detail = verdict.bounce_type or ""
            rcpt = ",".join(verdict.recipients[:2])
            why = verdict.error or (verdict.evidence[0] if verdict.evidence else "")
            click.echo(f"{verdict.category:<15} {detail:<4} {verdict.confidence:4.2f} {rcpt[:40]:<40} {path}"
                       f"  | {why[:90]}")
