"""The allowlist: senders and domains whose wording is never read as machine mail (admin pages, rules).

A rule protects what a sender writes (and the headers their mail tools set), never a
machine-readable report: a DSN, MDN or ARF part from an allowlisted domain still decides
(bouncer/classify.py).
"""
from __future__ import annotations

import re
from typing import cast

from ..mail import address_spellings, bare_address, valid_address
from ..vocab import ALLOW_KINDS, check
from .db import Connection
from .rows import AllowRule

_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Two-label public suffixes: a rule on one of them would cover every domain below it.
_PUBLIC_SUFFIXES = frozenset({"co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "co.at", "or.at", "gv.at", "ac.at",
                              "com.au", "net.au", "org.au", "co.nz", "co.jp", "ne.jp", "or.jp", "com.br", "com.pl",
                              "com.tr", "co.za", "com.cn", "com.es", "com.fr", "com.de"})
# Mail providers with millions of users: allowed, but every auto-reply of theirs then stays open.
LARGE_PROVIDERS = frozenset({"gmx.de", "gmx.net", "gmx.at", "gmx.ch", "web.de", "t-online.de", "freenet.de",
                             "posteo.de", "mailbox.org", "gmail.com", "googlemail.com", "outlook.com", "outlook.de",
                             "hotmail.com", "hotmail.de", "live.com", "live.de", "msn.com", "yahoo.com", "yahoo.de",
                             "icloud.com", "me.com", "mac.com", "aol.com", "aol.de", "proton.me", "protonmail.com",
                             "arcor.de", "vodafone.de", "email.de", "online.de", "1und1.de", "ionos.de"})


def check_domain(value: str) -> str:
    """The domain as a rule stores it (lower case, no '@' or dots around), or ValueError: a whole
    top-level domain ('de', '.de') or a public suffix ('co.uk') would cover everyone below it."""
    domain = value.strip().lstrip("@").strip(".").lower()
    try:  # an internationalised domain ('münchen.de', RFC 5891) is checked in its ASCII form, kept as typed
        labels = domain.encode("idna").decode("ascii").split(".")
    except UnicodeError:
        labels = [""]
    if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels) or labels[-1].isdigit():
        raise ValueError(f"domain {value!r}: not a valid domain (a whole top-level domain is not allowed)")
    if domain in _PUBLIC_SUFFIXES:
        raise ValueError(f"domain {value!r}: a public suffix, it would cover every domain below it")
    return domain


def allow_warning(kind: str, value: str) -> str | None:
    """Why a valid rule is still risky, or None: a large provider's domain covers all its users."""
    domain = value.strip().lower().rpartition("@")[2].strip(".")
    if kind == "domain" and domain in LARGE_PROVIDERS:
        return "large_provider"
    return None


class Allowlist(Connection):
    """Adding, removing and matching allowlist rules."""

    def add_allow(self, kind: str, value: str, note: str | None = None, by: str | None = None,
                  verdict_id: int | None = None) -> int:
        """Never treat mail from this sender or domain as machine mail; returns the rule id
        (the existing one if the rule is already there). A sender is one address (mail.valid_address,
        'Name <a@b>' too), a domain passes `check_domain`; else ValueError. `verdict_id`: the
        decision marked false positive that asked for the rule."""
        check(kind, ALLOW_KINDS, "kind")
        normalised = valid_address(bare_address(value) or "") if kind == "sender" else check_domain(value)
        if not normalised:
            raise ValueError(f"{kind} {value!r}: not a valid address")
        with self._write() as db:
            db.table("allowlist").insert({"kind": kind, "value": normalised, "note": note, "created_by": by,
                                          "created_at": self._now(), "verdict_id": verdict_id}, ignore=True)
            return int(db.execute("SELECT id FROM allowlist WHERE kind = ? AND value = ?",
                                  [kind, normalised]).fetchone()[0])

    def remove_allow(self, allow_id: int) -> bool:
        """Delete a rule; False if it was already gone (a repeated form post is harmless)."""
        with self._write() as db:
            return db.execute("DELETE FROM allowlist WHERE id = ?", [allow_id]).rowcount == 1

    def allowlist(self) -> list[AllowRule]:
        """Every rule, by kind and value."""
        return cast("list[AllowRule]", self._rows("SELECT * FROM allowlist ORDER BY kind, value"))

    def is_allowed(self, from_addr: str | None) -> str | None:
        """The rule that allows this sender ("sender a@b" / "domain b (note)"), or None.

        Case-insensitive; a domain rule also covers its subdomains; a sender rule wins.
        """
        address = bare_address(from_addr)
        if not address:
            return None
        names = set(address_spellings(address))  # a rule keeps an internationalised domain as typed
        domains = {".".join(labels[i:]) for name in names
                   for labels in [name.rpartition("@")[2].split(".")] for i in range(len(labels))}
        values = [*names, *domains]
        # Asked for every event: one plain statement on the connection (a few rules, no ORDER BY to sort).
        with self._lock:
            rules = self._conn.execute(
                f"SELECT kind, value, note FROM allowlist WHERE value IN ({', '.join('?' * len(values))})",
                values).fetchall()
        matching = [(kind == "sender", len(value), kind, value, note) for kind, value, note in rules
                    if (kind == "sender") == (value in names)]
        if not matching:
            return None
        *_, kind, value, note = max(matching)
        return f"{kind} {value}" + (f" ({note})" if note else "")

