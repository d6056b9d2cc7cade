"""Time every rule over mail content on 100 KB adversarial header and body lines, and how that time grows.

Each unit of tests/hostile.py (runs of address characters without "@", digits and dots,
markup, keywords without their continuation, ...) is put at 50 KB and at 100 KB into every
header the detectors read, the body, HTML, a DSN part and an enclosed original, raw and as a
Znuny article. Per detector: the worst time at 100 KB and the growth from 50 to 100 KB
(summed over all cases: a linear rule at most doubles, less where the header cap holds; a
quadratic one quadruples). Best of --rounds.

    python bench/redos.py              # prints figures, last line key=value summary
    python bench/redos.py --units a 5  # only some units

Target (issue "Hardening"): every detector linear; no call near a second.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from bouncer.mime import parse  # noqa: E402
from hostile import LINE_BYTES, PLACES, UNITS, article_mail, article_payload, detector_calls, raw_mail, run  # noqa: E402


def best(call, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(units: list[str], size: int, rounds: int) -> dict[tuple[str, str, str], float]:
    """(detector, unit, place) -> seconds for one call."""
    calls = detector_calls()
    out: dict[tuple[str, str, str], float] = {}
    for unit in units:
        line = run(unit, size)
        mails = {place: raw_mail(line, place) for place in PLACES}
        for place, raw in mails.items():
            out[("parse", unit, place)] = best(lambda: parse(raw), rounds)
            mail = parse(raw)
            for name, call in calls.items():
                out[(name, unit, place)] = best(lambda: call(mail), rounds)
        payload = article_payload(line)
        article = payload["Ticket"]["Article"]
        out[("article_mail", unit, "article")] = best(lambda: article_mail(article, payload["Ticket"]), rounds)
        mail = article_mail(article, payload["Ticket"])
        for name, call in calls.items():
            out[(name, unit, "article")] = best(lambda: call(mail), rounds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--units", nargs="*", default=list(UNITS))
    args = parser.parse_args()
    full = measure(args.units, LINE_BYTES, args.rounds)
    half = measure(args.units, LINE_BYTES // 2, args.rounds)
    names = sorted({name for name, _, _ in full})
    print(f"{'detector':14} {'worst ms':>9} {'growth':>7}  worst case (unit in place)")
    worst_all, growth_all = (0.0, ""), (0.0, "")
    for name in names:
        rows = [(seconds, key) for key, seconds in full.items() if key[0] == name]
        seconds, key = max(rows)
        # Growth of the detector's total over all cases: single sub-millisecond calls are noise.
        growth = sum(s for s, _ in rows) / max(sum(half[k] for _, k in rows), 1e-6)
        print(f"{name:14} {seconds * 1000:9.1f} {growth:7.2f}  {key[1]!r} in {key[2]}")
        worst_all = max(worst_all, (seconds, f"{name}:{key[1]!r}:{key[2]}"))
        growth_all = max(growth_all, (growth, name))
    print(f"redos cases={len(full)} line_bytes={LINE_BYTES} worst_ms={worst_all[0] * 1000:.1f} "
          f"worst_case={worst_all[1].replace(' ', '_')} max_growth={growth_all[0]:.2f} max_growth_in={growth_all[1]}")


if __name__ == "__main__":
    main()
