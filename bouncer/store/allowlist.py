"""The allowlist: senders and domains whose mail is never machine mail (admin pages, rules)."""
from __future__ import annotations

from typing import cast

from ..mail import bare_address
from ..vocab import ALLOW_KINDS, check
from .db import Connection
from .rows import AllowRule


class Allowlist(Connection):
    """Adding, removing and matching allowlist rules."""

    def add_allow(self, kind: str, value: str, note: str | None = None, by: str | None = None) -> int:
        """Never treat mail from this sender or domain as machine mail; returns the rule id
        (the existing one if the rule is already there)."""
        check(kind, ALLOW_KINDS, "kind")
        normalised = bare_address(value) if kind == "sender" else value.strip().lstrip("@").lower()
        if not normalised or (kind == "domain" and ("@" in normalised or "." not in normalised)):
            raise ValueError(f"{kind} {value!r}: not a valid {'address' if kind == 'sender' else 'domain'}")
        with self._write() as db:
            db.table("allowlist").insert({"kind": kind, "value": normalised, "note": note, "created_by": by,
                                          "created_at": self._now()}, ignore=True)
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
        labels = address.rpartition("@")[2].split(".")
        domains = [".".join(labels[i:]) for i in range(len(labels))]
        # Asked for every event: one plain statement on the connection (a few rules, no ORDER BY to sort).
        with self._lock:
            rules = self._conn.execute(
                f"SELECT kind, value, note FROM allowlist WHERE value IN ({', '.join('?' * (len(domains) + 1))})",
                [address, *domains]).fetchall()
        matching = [(kind == "sender", len(value), kind, value, note) for kind, value, note in rules
                    if (kind == "sender") == (value == address)]
        if not matching:
            return None
        *_, kind, value, note = max(matching)
        return f"{kind} {value}" + (f" ({note})" if note else "")

