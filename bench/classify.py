"""Classifier throughput and memory on the real-mail dev corpus, against flufl.bounce and flanker.

Each tool runs in its own fresh process (so peak RSS is its own), in-process and on one
core: read every corpus mail into memory, then parse and judge all of them, several
rounds, best round counts. The same run times hostile inputs (empty, garbage, truncated
MIME, 1,000-deep nesting, a 25 MB attachment) through our classifier.

    python bench/classify.py            # prints figures, last line key=value summary
    python bench/classify.py --rounds 5

Targets (issue "Classifier core"): >= 2,500 mails/s and <= 60 MB RSS.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BOUNCER_SHARED_DIR") or REPO.parent / "shared")
CORPUS = SHARED / "corpus" / "dev"
MANIFEST = SHARED / "corpus" / "dev.tsv"
TOOLS = ("ours", "flufl", "flanker")


def load() -> list[bytes]:
    with MANIFEST.open(newline="", encoding="utf-8") as handle:
        return [(CORPUS / row["path"]).read_bytes() for row in csv.DictReader(handle, delimiter="\t")]


def judge_function(tool: str):
    """The per-mail work of one tool: parse, then decide bounce or not."""
    if tool == "ours":
        sys.path.insert(0, str(REPO))
        from bouncer.classify import classify_bytes
        return lambda raw: classify_bytes(raw).category
    if tool == "flufl":
        import email

        from flufl.bounce import scan_message

        def flufl_judge(raw: bytes) -> bool:
            try:
                return bool(scan_message(email.message_from_bytes(raw)))
            except Exception:  # some of its detectors crash on odd mail; count it as judged
                return False
        return flufl_judge
    import contextlib
    import io
    import warnings
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        from flanker import mime

    def flanker_judge(raw: bytes) -> bool:
        try:
            return bool(mime.from_string(raw).is_bounce())
        except Exception:  # flanker refuses malformed MIME; count it as judged
            return False
    return flanker_judge


def worker(tool: str, rounds: int) -> dict[str, float]:
    mails = load()
    judge = judge_function(tool)
    judge(mails[0])  # warm imports and regex caches
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for raw in mails:
            judge(raw)
        best = min(best, time.perf_counter() - started)
    result = {"tool": tool, "mails": len(mails), "mails_per_s": len(mails) / best,
              "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if tool == "ours":
        result["bad_input_ms"] = bad_inputs()
    return result


def bad_inputs() -> dict[str, float]:
    """Milliseconds per hostile input (each must end in a verdict, never a crash)."""
    from bouncer.classify import classify_bytes
    nested = b"Content-Type: message/rfc822\n\n" * 1000 + b"Subject: deep\n\nbody\n"
    attachment = (b"From: a@b.example\nSubject: big\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=x\n\n"
                  b"--x\nContent-Type: text/plain\n\nhello\n--x\nContent-Type: application/pdf\n"
                  b"Content-Transfer-Encoding: base64\n\n" + b"QUJD" * (25 * 1024 * 1024 // 4) + b"\n--x--\n")
    cases = {
        "empty": b"", "garbage": os.urandom(200_000),
        "truncated_mime": b"Content-Type: multipart/report; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nAct",
        "unknown_charset": b"Subject: x\nContent-Type: text/plain; charset=x-no-such\n\n\xff\xfe text",
        "8bit_headers": "Subject: Änderung ärger\nFrom: Jörg <j@x.example>\n\nHallo".encode("latin-1"),
        "nested_1000": nested, "attachment_25mb": attachment,
    }
    times = {}
    for name, raw in cases.items():
        started = time.perf_counter()
        classify_bytes(raw)
        times[name] = (time.perf_counter() - started) * 1000
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.rounds)))
        return 0
    if not MANIFEST.is_file():
        print(f"corpus not found at {MANIFEST} (set BOUNCER_SHARED_DIR)", file=sys.stderr)
        return 2
    results = {}
    for tool in TOOLS:
        print(f"running {tool} ...", file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, __file__, "--worker", tool, "--rounds", str(args.rounds)],
                             capture_output=True, text=True, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        results[tool] = json.loads(out.stdout.strip().splitlines()[-1])
    ours = results["ours"]
    print(f"{'tool':<10}{'mails':>8}{'mails/s':>12}{'peak RSS MB':>14}")
    for tool in TOOLS:
        r = results[tool]
        print(f"{tool:<10}{r['mails']:>8}{r['mails_per_s']:>12.0f}{r['rss_mb']:>14.1f}")
    print("hostile inputs (ms each): " + ", ".join(f"{k} {v:.1f}" for k, v in ours["bad_input_ms"].items()))
    vs_flufl = ours["mails_per_s"] / results["flufl"]["mails_per_s"]
    vs_flanker = ours["mails_per_s"] / results["flanker"]["mails_per_s"]
    print(f"mails_per_s={ours['mails_per_s']:.0f} rss_mb={ours['rss_mb']:.1f} vs_flufl={vs_flufl:.2f} "
          f"vs_flanker={vs_flanker:.2f} flufl_mails_per_s={results['flufl']['mails_per_s']:.0f} "
          f"flanker_mails_per_s={results['flanker']['mails_per_s']:.0f} "
          f"bad_input_max_ms={max(ours['bad_input_ms'].values()):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
