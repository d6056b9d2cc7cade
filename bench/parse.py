"""MIME parsing alone on the real-mail dev corpus: our bounded splitter against the standard library.

What the classifier needs from a mail is its headers, the decoded text of its parts and the
messages enclosed in it. `bouncer.mime.parse` gives exactly that; the standard library's
`email` (policy.default) is timed doing the same: parse, walk every part, decode each text
part and each enclosed message's headers. Both run over every corpus mail, several rounds;
the best round counts. Ends with one `key=value` line.
"""
from __future__ import annotations

import argparse
import csv
import email
import email.policy
import sys
import time
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bouncer.mime import parse  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"


def stdlib(raw: bytes) -> int:
    """Parse with the standard library and read what the classifier reads; returns the parts seen."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    seen = 0
    for part in message.walk():
        seen += 1
        dict(part.items())  # the headers, decoded
        if part.get_content_maintype() == "text" and isinstance(part, EmailMessage):
            part.get_content()
    return seen


def stdlib_compat32(raw: bytes) -> int:
    """The same with the legacy policy (compat32): headers stay encoded words, payloads are bytes."""
    message = email.message_from_bytes(raw)
    seen = 0
    for part in message.walk():
        seen += 1
        part.items()
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                payload.decode(part.get_content_charset() or "utf-8", "replace")
    return seen


def rate(function, mails: list[bytes], rounds: int) -> tuple[float, int]:
    """Mails per second (best round) and how many mails raised."""
    best, failed = float("inf"), 0
    for _ in range(rounds):
        failed = 0
        started = time.perf_counter()
        for raw in mails:
            try:
                function(raw)
            except Exception:  # what a parser refuses is counted, not fatal
                failed += 1
        best = min(best, time.perf_counter() - started)
    return len(mails) / best, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    dev = SHARED / "corpus" / "dev"
    with open(SHARED / "corpus" / "dev.tsv", encoding="utf-8") as handle:
        mails = [(dev / row["path"]).read_bytes() for row in csv.DictReader(handle, delimiter="\t")]
    ours, ours_failed = rate(parse, mails, args.rounds)
    theirs, theirs_failed = rate(stdlib, mails, args.rounds)
    legacy, legacy_failed = rate(stdlib_compat32, mails, args.rounds)
    print(f"{len(mails)} dev corpus mails, best of {args.rounds} rounds")
    print(f"bouncer.mime.parse              {ours:8.0f} mails/s  {ours_failed} refused")
    print(f"email, policy.default           {theirs:8.0f} mails/s  {theirs_failed} raised")
    print(f"email, compat32 (legacy)        {legacy:8.0f} mails/s  {legacy_failed} raised")
    print(f"mails={len(mails)} mime_per_s={ours:.0f} email_default_per_s={theirs:.0f} email_compat32_per_s={legacy:.0f} "
          f"mime_failed={ours_failed} email_default_failed={theirs_failed} email_compat32_failed={legacy_failed}")


if __name__ == "__main__":
    main()
