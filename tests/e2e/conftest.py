"""Fixtures for the real-Znuny tests: Znuny up, our kit installed, a bouncer in mode X, mail fed.

Reuse them for any test against the real Znuny:

- `znuny` (session): a `Znuny` answering on 127.0.0.1 (setup.sh runs when it is missing); the
  whole directory skips, with the reason printed, where the machine cannot run it (not root, not Debian)
  or while another test session holds the Znuny (one session at a time: they would reconfigure
  each other's web service; BOUNCER_E2E_LOCK_WAIT seconds to wait for it, default 0).
- `kit` (session): our kit freshly installed with znuny/install-kit.sh, as an admin would.
- `start_bouncer(mode, **BOUNCER_settings)`: gunicorn on a free port with its own database, the
  web service pointed at it (Admin::OTRSBouncer::Setup); stopped after the test.
- `znuny.feed([paths or bytes])` feeds mail through Maint::PostMaster::Read;
  `znuny.tickets(ids)` reads end states from Znuny's database.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import real_znuny
from real_znuny import Bouncer, Kit, StartBouncer, Znuny


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = real_znuny.unavailable()
    if reason is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def znuny() -> Iterator[Znuny]:
    with real_znuny.exclusive() as busy:
        if busy:
            pytest.skip(busy)
        real_znuny.ensure_up()
        yield from _znuny()


def _znuny() -> Iterator[Znuny]:
    for workdir in real_znuny.temp_workdir():  # the znuny user must read the mails it is fed
        instance = Znuny(workdir)
        instance.forget_scheduled_calls()  # retries of an earlier run would call bouncers long gone
        yield instance
        instance.daemon("stop")
        instance.followup_detection(on=True)  # Znuny's default, as setup.sh leaves it


@pytest.fixture(scope="session")
def kit(znuny: Znuny) -> Kit:
    """Our kit, installed afresh; the web service points nowhere until a bouncer starts."""
    return znuny.install_kit(f"http://127.0.0.1:{real_znuny.free_port()}")


@pytest.fixture
def start_bouncer(znuny: Znuny, kit: Kit, tmp_path: Path) -> Iterator[StartBouncer]:
    started: list[Bouncer] = []

    def start(mode: str, *setup_options: str, **settings: str) -> Bouncer:
        server = real_znuny.bouncer(tmp_path / f"bouncer-{len(started)}", mode, kit, **settings)
        started.append(server)
        znuny.connect(kit, server.url, *setup_options)
        return server.start()

    yield start
    for server in started:
        server.stop()
