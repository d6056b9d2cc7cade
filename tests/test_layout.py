"""One room per concern: no module grows past 500 lines."""
from __future__ import annotations

from corpus import REPO

MAX_LINES = 500


def test_no_module_is_over_500_lines() -> None:
    modules = [*REPO.joinpath("bouncer").rglob("*.py"), *REPO.joinpath("filters").glob("*.py"), REPO / "app.py"]
    long = {str(m.relative_to(REPO)): n for m in modules if (n := len(m.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert modules and long == {}
