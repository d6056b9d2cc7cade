"""Field blocks of machine-readable reports: RFC 3464 DSN, RFC 8098 MDN and RFC 5965 ARF parts.

All three use the same syntax (RFC 3464 §2.1): header-like fields in blocks, one per-message
block, then one block per recipient, separated by blank lines. Shared here so the `dsn`,
`mdn` and `arf` detectors read them alike and none depends on another.
"""
from __future__ import annotations

import re

_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]{0,60})[ \t]*:[ \t]*(.*)$")
# Fields that start a recipient's block (RFC 3464 §2.3): Original-Recipient comes first when present.
_RECIPIENT_START = ("original-recipient", "final-recipient")
_RECIPIENT_FIELDS = frozenset({"original-recipient", "final-recipient", "action", "status", "remote-mta",
                               "diagnostic-code", "last-attempt-date", "will-retry-until", "final-log-id"})
_ADDRESS_MAX = 320


def parse_blocks(text: str) -> list[dict[str, str]]:
    """Split report fields into blocks (per-message first, then per-recipient), keys lower-cased.

    Blank lines separate blocks; so does a recipient field that a block already has (the next
    recipient's) or the first recipient field after per-message fields, since some MTAs write
    every block without a blank line. Continuation lines are folded in.
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
                current, last = {}, None
            continue
        if line[0] in " \t" and last:
            current[last] += " " + line.strip()
            continue
        match = _FIELD_RE.match(line)
        if not match:
            continue
        key = match.group(1).lower()
        if current and _starts_new_block(current, key):
            blocks.append(current)
            current = {}
        last = key
        current.setdefault(key, match.group(2).strip())
    if current:
        blocks.append(current)
    if blocks and is_recipient_block(blocks[0]):
        blocks.insert(0, {})  # some MTAs omit the per-message block
    return blocks


def _starts_new_block(current: dict[str, str], key: str) -> bool:
    """A recipient field seen twice is the next recipient's; a recipient field right after
    per-message fields starts the first one. (Field order inside a block varies by MTA.)"""
    if key not in _RECIPIENT_FIELDS:
        return False
    if key in current:
        return True
    return key in _RECIPIENT_START and not any(k in _RECIPIENT_FIELDS for k in current) and (
        "reporting-mta" in current or "arrival-date" in current)


def is_recipient_block(block: dict[str, str]) -> bool:
    return "final-recipient" in block or "original-recipient" in block or "action" in block


def field_address(value: str) -> str | None:
    """The address in an `addr-type; address` field (RFC 3464 §2.3.1), as written, lower-cased.

    Not searched with an address pattern: a quoted local part, a leading '=', an encoded word
    or an IDN domain belong to the address and are kept. RFC 6533's `utf-8` type may carry
    `\\x{HEX}` escapes, which are decoded. None when the value holds no single address.
    """
    kind, sep, rest = value.partition(";")
    address = (rest if sep else value).strip()
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1].strip()
    if sep and kind.strip().lower() == "utf-8" and "\\x{" in address:
        address = re.sub(r"\\x\{([0-9A-Fa-f]{1,6})\}", lambda m: _char(m.group(1)), address)
    at = address.rfind("@")
    if at <= 0 or at == len(address) - 1 or len(address) > _ADDRESS_MAX:
        return None
    local, domain = address[:at], address[at + 1:]
    if any(ch.isspace() for ch in domain) or "." not in domain or "<" in domain or ">" in domain:
        return None
    if any(ch.isspace() for ch in local) and not (local.startswith('"') and local.endswith('"')):
        return None
    return f"{local}@{domain.rstrip('.')}".lower()


def _char(hexpoint: str) -> str:
    try:
        return chr(int(hexpoint, 16))
    except (ValueError, OverflowError):
        return ""
