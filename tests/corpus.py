"""Where the shared, read-only test material lives and how its labels read.

../shared sits beside the checkout (CI has it too); BOUNCER_SHARED_DIR overrides.
The corpus is read in place, never copied into the repository.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BOUNCER_SHARED_DIR") or REPO.parent / "shared")
DEV = SHARED / "corpus" / "dev"
DEV_TSV = SHARED / "corpus" / "dev.tsv"
ZNUNY_DEV = SHARED / "corpus" / "znuny-dev"
ZNUNY_DEV_TSV = SHARED / "corpus" / "znuny-dev.tsv"
FIXTURES = REPO / "fixtures" / "mails"
MACHINE = {"bounce", "auto_reply", "read_receipt", "feedback_report"}


def manifest(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def category_of(label: str) -> str:
    return "bounce" if label.startswith("bounce") else label


def label_matches(label: str, category: str) -> bool:
    """other_auto (challenge-response, success notices) is right as any machine category."""
    return category in MACHINE if label == "other_auto" else category_of(label) == category
