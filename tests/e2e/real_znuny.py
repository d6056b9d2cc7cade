"""A real Znuny 7.0.19 for end-to-end tests: bring it up, install our kit, feed mail, read end states.

The Znuny is the one `<shared>/znuny/setup.sh` installs (Debian 12, root; PostgreSQL + Apache on
127.0.0.1, no mail leaves the machine). Everything here acts the way an admin or a mail server
would: the kit through `znuny/install-kit.sh` (Dev::Package::Build, Admin::Package::Install,
Admin::OTRSBouncer::Setup), mail through the command Maint::PostMaster::Read, end states read from
Znuny's own database. `unavailable()` says why a machine cannot run it; the tests then skip with that.
"""
from __future__ import annotations

import fcntl
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("BOUNCER_SHARED_DIR") or REPO.parent / "shared")
SETUP = SHARED / "znuny" / "setup.sh"
HOME = Path("/opt/znuny")
USER = "znuny"
BASE_URL = "http://127.0.0.1/znuny"
DB_PW = os.environ.get("ZNUNY_DB_PW", "znuny-db-pw")
ADMIN = ("root@localhost", os.environ.get("ZNUNY_ADMIN_PW", "znuny-admin-pw"))
KIT = REPO / "znuny" / "install-kit.sh"
FEEDER = Path(__file__).with_name("feed.pl")
SETUP_SECONDS = 900  # apt on a fresh machine included
FOLLOWUP_SETTINGS = ("0000-BounceEmail", "0100-Subject", "0200-References")


def unavailable() -> str | None:
    """Why this machine cannot run the real Znuny, or None when it can (Znuny may still be down)."""
    if platform.system() != "Linux" or not Path("/etc/debian_version").is_file():
        return "the real-Znuny tests need Debian (setup.sh installs Znuny with Debian's packages)"
    if os.geteuid() != 0:
        return "the real-Znuny tests need root (setup.sh installs packages; the console runs as user znuny)"
    if not HOME.joinpath("RELEASE").is_file() and not SETUP.is_file():
        return f"no Znuny in {HOME} and no {SETUP} to set one up (BOUNCER_SHARED_DIR)"
    return None


LOCK = Path(tempfile.gettempdir()) / "otrs-bouncer-e2e-znuny.lock"


@contextmanager
def exclusive() -> Iterator[str | None]:
    """Hold the one Znuny for this test session: yields None, or why not (another session has it
    and did not let go within BOUNCER_E2E_LOCK_WAIT seconds). The lock goes with the process."""
    wait = float(os.environ.get("BOUNCER_E2E_LOCK_WAIT", "0"))
    with LOCK.open("a") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield f"another test session is using the real Znuny ({LOCK}); BOUNCER_E2E_LOCK_WAIT to wait"
                    return
                time.sleep(2)
        try:
            yield None
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def answers() -> bool:
    try:
        return requests.get(f"{BASE_URL}/index.pl", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def ensure_up() -> None:
    """Znuny answering on 127.0.0.1: setup.sh when it does not (idempotent; ~20 s, a fresh machine ~3 min)."""
    if HOME.joinpath("RELEASE").is_file() and answers():
        return
    result = subprocess.run(["bash", str(SETUP)], check=False, capture_output=True, text=True, timeout=SETUP_SECONDS)
    if result.returncode != 0 or not answers():
        raise RuntimeError(f"{SETUP} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], object], seconds: float, what: str, step: float = 0.2) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {seconds:.0f}s waiting for {what}")
        time.sleep(step)


@dataclass(frozen=True)
class Fed:
    """One mail through Maint::PostMaster::Read: its exit code and the email article it became."""

    path: Path
    exit_code: int
    ticket_id: int | None
    article_id: int | None


@dataclass(frozen=True)
class Article:
    id: int
    sender_type: str  # customer | agent | system
    channel: str  # Email | Internal | Phone ...
    create_by: str  # the agent's login
    subject: str
    body: str


@dataclass(frozen=True)
class Ticket:
    """A ticket as Znuny's database has it."""

    id: int
    number: str
    state: str
    state_type: str
    queue: str
    articles: tuple[Article, ...]
    fields: dict[str, str] = field(default_factory=dict)

    def notes(self) -> list[Article]:
        return [a for a in self.articles if a.channel == "Internal"]


@dataclass(frozen=True)
class Kit:
    agent: str
    agent_password: str
    webhook_user: str
    webhook_password: str
    token: str
    install_seconds: float


class Znuny:
    """Console, database and services of the local Znuny."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir  # readable by the znuny user: mails to feed go here
        workdir.mkdir(parents=True, exist_ok=True)
        workdir.chmod(0o755)
        self.feeder = workdir / "feed.pl"
        shutil.copy(FEEDER, self.feeder)
        self.feeder.chmod(0o644)
        self._mails = 0
        self.feed_stderr = ""

    # ---- console and database ---------------------------------------------------------------
    def run_as_znuny(self, args: Sequence[str], env: dict[str, str] | None = None, stdin: bytes | None = None,
                     timeout: float = 600) -> subprocess.CompletedProcess[str]:
        extra = [f"{key}={value}" for key, value in (env or {}).items()]
        return subprocess.run(["runuser", "-u", USER, "--", "env", *extra, *args], check=False, cwd=HOME, input=stdin,
                              capture_output=True, timeout=timeout, text=stdin is None)

    def console(self, *args: str, check: bool = True) -> str:
        result = self.run_as_znuny(["bin/znuny.Console.pl", *args])
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:1])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def sql(self, query: str) -> list[list[str]]:
        """Rows of a query against Znuny's PostgreSQL (fields separated by the unit separator)."""
        result = subprocess.run(["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-h", "127.0.0.1", "-U",
                                 "znuny", "znuny", "-c", query], check=False, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PGPASSWORD": DB_PW})
        if result.returncode != 0:
            raise RuntimeError(f"psql: {result.stderr}")
        return [line.split("\x1f") for line in result.stdout.splitlines() if line]

    # ---- the kit ------------------------------------------------------------------------------
    def install_kit(self, url: str, *options: str) -> Kit:
        """Remove any earlier kit, then install ours as an admin would: znuny/install-kit.sh."""
        self.kit_script("--remove")
        kit = Kit(agent="otrs-bouncer", agent_password="e2e-agent-pw", webhook_user="webhook",
                  webhook_password="e2e-webhook-pw", token="e2e-token", install_seconds=0.0)
        started = time.monotonic()
        self.kit_script("--url", url, "--webhook-user", kit.webhook_user, "--agent-login", kit.agent,
                        "--agent-group", "users", *options,
                        env={"BOUNCER_WEBHOOK_PASSWORD": kit.webhook_password, "BOUNCER_WEBHOOK_TOKEN": kit.token,
                             "BOUNCER_OTRS_PASSWORD": kit.agent_password})
        return Kit(**{**kit.__dict__, "install_seconds": time.monotonic() - started})

    def kit_script(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(["bash", str(KIT), *args], check=False, capture_output=True, text=True, timeout=600,
                                env={**os.environ, "ZNUNY_HOME": str(HOME), **(env or {})})
        if result.returncode != 0:
            raise RuntimeError(f"install-kit.sh {' '.join(args[:1])} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def connect(self, kit: Kit, url: str, *options: str) -> None:
        """Point the web service at a (new) bouncer URL: Admin::OTRSBouncer::Setup as the admin reruns it."""
        result = self.run_as_znuny(["bin/znuny.Console.pl", "Admin::OTRSBouncer::Setup", "--url", url,
                                    "--webhook-user", kit.webhook_user, *options],
                                   env={"BOUNCER_WEBHOOK_PASSWORD": kit.webhook_password,
                                        "BOUNCER_WEBHOOK_TOKEN": kit.token})
        if result.returncode != 0:
            raise RuntimeError(f"Admin::OTRSBouncer::Setup failed:\n{result.stdout}\n{result.stderr}")

    def followup_detection(self, on: bool) -> None:
        """Znuny's PostMaster follow-up checks (BounceEmail, Subject, References): batched, one rebuild."""
        want = "1" if on else "0"
        changed = False
        for name in FOLLOWUP_SETTINGS:
            setting = f"PostMaster::CheckFollowUpModule###{name}"
            rows = self.sql(f"select coalesce((select is_valid::text from sysconfig_modified where name='{setting}'),"
                            f" (select is_valid::text from sysconfig_default where name='{setting}'))")
            if rows[0][0] != want:
                self.console("Admin::Config::Update", "--setting-name", setting, "--valid", want, "--no-deploy")
                changed = True
        if changed:
            self.console("Maint::Config::Rebuild")

    # ---- mail ---------------------------------------------------------------------------------
    def feed(self, mails: Iterable[Path | bytes], processes: int = 1) -> list[Fed]:
        """Each mail through Maint::PostMaster::Read (tests/e2e/feed.pl), answers in the mails' order.

        `processes` > 1 feeds that many shares at once, as a mail server delivering in parallel
        would; only for mails that cannot be follow-ups of one another."""
        paths = []
        for mail in mails:
            self._mails += 1
            target = self.workdir / f"mail-{self._mails:05d}.eml"
            target.write_bytes(mail if isinstance(mail, bytes) else mail.read_bytes())
            target.chmod(0o644)
            paths.append(target)
        shares = [paths[i::processes] for i in range(processes) if paths[i::processes]]
        running = [subprocess.Popen(["runuser", "-u", USER, "--", "perl", str(self.feeder), *map(str, share)],
                                    cwd=HOME, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for share in shares]
        answers: dict[Path, Fed] = {}
        for process in running:
            out, err = process.communicate(timeout=1800)
            for line in out.splitlines():
                name, code, ticket, article = line.split("\t")
                answers[Path(name)] = Fed(Path(name), int(code), int(ticket) if ticket else None,
                                          int(article) if article else None)
            self.feed_stderr = err
        missing = [p for p in paths if p not in answers]
        if missing:
            raise RuntimeError(f"feed.pl answered for {len(paths) - len(missing)} of {len(paths)} mails:\n"
                               f"{self.feed_stderr[-3000:]}")
        return [answers[p] for p in paths]

    # ---- end states ---------------------------------------------------------------------------
    def tickets(self, ids: Iterable[int]) -> dict[int, Ticket]:
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return {}
        where = ",".join(map(str, wanted))
        heads = self.sql(
            "select t.id, t.tn, s.name, st.name, q.name from ticket t join ticket_state s on s.id = t.ticket_state_id"
            " join ticket_state_type st on st.id = s.type_id join queue q on q.id = t.queue_id"
            f" where t.id in ({where})")
        articles: dict[int, list[Article]] = {i: [] for i in wanted}
        for tid, aid, sender, channel, login, subject, body in self.sql(
                "select a.ticket_id, a.id, ast.name, c.name, u.login, coalesce(m.a_subject, ''),"
                " replace(replace(coalesce(m.a_body, ''), chr(13), ''), chr(10), '\\n')"
                " from article a join article_sender_type ast on ast.id = a.article_sender_type_id"
                " join communication_channel c on c.id = a.communication_channel_id"
                " join users u on u.id = a.create_by left join article_data_mime m on m.article_id = a.id"
                f" where a.ticket_id in ({where}) order by a.id"):
            articles[int(tid)].append(Article(int(aid), sender, channel, login, subject, body.replace("\\n", "\n")))
        fields: dict[int, dict[str, str]] = {i: {} for i in wanted}
        for oid, name, value in self.sql(
                "select v.object_id, f.name, coalesce(v.value_text, '') from dynamic_field_value v"
                " join dynamic_field f on f.id = v.field_id"
                f" where f.object_type = 'Ticket' and v.object_id in ({where})"):
            fields[int(oid)][name] = value
        return {int(t): Ticket(int(t), tn, state, stype, queue, tuple(articles[int(t)]), fields[int(t)])
                for t, tn, state, stype, queue in heads}

    def history(self, ticket_id: int) -> list[tuple[str, str, str]]:
        """(history type, name, agent login) of a ticket, oldest first."""
        return [(r[0], r[1], r[2]) for r in self.sql(
            "select ht.name, h.name, u.login from ticket_history h join ticket_history_type ht on ht.id = h.history_type_id"
            f" join users u on u.id = h.create_by where h.ticket_id = {int(ticket_id)} order by h.id")]

    def max_ticket_id(self) -> int:
        return int(self.sql("select coalesce(max(id), 0) from ticket")[0][0])

    # ---- services -----------------------------------------------------------------------------
    def apache(self, action: str) -> None:
        subprocess.run(["apache2ctl", action], check=True, capture_output=True, timeout=120)
        if action == "stop":
            wait_for(lambda: not answers(), 60, "Apache to stop")
        else:
            wait_for(answers, 60, "Apache to answer")

    def daemon(self, action: str) -> None:
        """Znuny's daemon (scheduler: asynchronous invokers and retries)."""
        log = self.workdir / "daemon.log"
        with log.open("ab") as out:  # the daemon's children keep these open: no pipes to wait on
            code = subprocess.run(["runuser", "-u", USER, "--", "bin/znuny.Daemon.pl", action], check=False, cwd=HOME,
                                  stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=120).returncode
        if action == "start" and code != 0 and "already running" not in log.read_text(errors="replace"):
            raise RuntimeError(f"znuny.Daemon.pl start: {log.read_text(errors='replace')[-2000:]}")
        if action == "stop":  # its workers finish their task first
            wait_for(lambda: "not running" in self.run_as_znuny(["bin/znuny.Daemon.pl", "status"]).stdout, 120,
                     "Znuny's daemon to stop", step=1.0)

    def scheduled_tasks(self) -> int:
        """Invoker calls waiting in the scheduler: asynchronous ones and retries."""
        return int(self.sql("select (select count(*) from scheduler_task where task_type = 'GenericInterface')"
                            " + (select count(*) from scheduler_future_task where task_type = 'GenericInterface')")[0][0])

    def forget_scheduled_calls(self) -> None:
        """Drop invoker calls earlier sessions left in the scheduler (they would call bouncers long gone),
        and the calendar-appointment tasks every ticket change queues: this Znuny has no calendars, and
        the daemon would work through thousands of them before a retry of ours."""
        self.sql("delete from scheduler_future_task where task_type = 'GenericInterface'")
        self.sql("delete from scheduler_task where task_type = 'GenericInterface' or (task_type = 'AsynchronousExecutor'"
                 " and name = 'Kernel::System::Calendar-TicketAppointmentProcessTicket()')")

    def rest(self, operation_path: str, body: dict[str, Any], method: str = "POST") -> dict[str, Any]:
        """A REST call to our web service's provider as root@localhost (an agent's own work, not ours)."""
        login = requests.post(f"{BASE_URL}/nph-genericinterface.pl/Webservice/BounceWebhook/Session",
                              json={"UserLogin": ADMIN[0], "Password": ADMIN[1]}, timeout=60).json()
        answer = requests.request(method, f"{BASE_URL}/nph-genericinterface.pl/Webservice/BounceWebhook{operation_path}",
                                  json={"SessionID": login["SessionID"], **body}, timeout=60).json()
        if "Error" in answer:
            raise RuntimeError(f"{operation_path}: {answer['Error']}")
        return answer


# ---- the bouncer under test ----------------------------------------------------------------------
@dataclass
class Bouncer:
    """otrs-bouncer under real gunicorn on a free 127.0.0.1 port, with its own SQLite file."""

    mode: str
    db_path: Path
    log: Path
    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Bouncer:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py"), "app:create_app()"],
                cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        wait_for(self._ready, 60, "gunicorn's /readyz")
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
        try:
            return requests.get(self.url + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        self.process = None

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)) as db:
            db.row_factory = sqlite3.Row
            return db.execute(query, params).fetchall()

    def unfinished_actions(self) -> int:
        return int(self.rows("select count(*) from actions where state in ('pending', 'running')")[0][0])

    def decisions(self) -> dict[tuple[int, int], sqlite3.Row]:
        """(ticket, article) -> the recorded verdict, plan and action of every event."""
        found = self.rows(
            "select e.ticket_id, e.article_id, e.status, v.id as verdict_id, v.category, v.bounce_type, v.confidence,"
            " a.kind, a.plan, a.state as action_state, a.mode, a.last_error"
            " from events e left join verdicts v on v.event_id = e.id"
            " left join actions a on a.event_id = e.id and a.kind != 'reopen'")
        return {(row["ticket_id"], row["article_id"]): row for row in found}


StartBouncer = Callable[..., Bouncer]


def bouncer(workdir: Path, mode: str, kit: Kit, **settings: str) -> Bouncer:
    """A not yet started bouncer in `mode`, talking to the local Znuny as the kit's agent."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("BOUNCER_") and key != "PROMETHEUS_MULTIPROC_DIR"}
    port = free_port()
    env.update(BOUNCER_BIND=f"127.0.0.1:{port}", BOUNCER_WORKERS="2", BOUNCER_MODE=mode,
               BOUNCER_DB_PATH=str(workdir / "bouncer.sqlite"), BOUNCER_WEBHOOK_USER=kit.webhook_user,
               BOUNCER_WEBHOOK_PASSWORD=kit.webhook_password, BOUNCER_WEBHOOK_TOKEN=kit.token,
               BOUNCER_OTRS_URL=BASE_URL, BOUNCER_OTRS_USER=kit.agent, BOUNCER_OTRS_PASSWORD=kit.agent_password,
               BOUNCER_COOKIE_SECURE="false", BOUNCER_USERS_FILE=str(workdir / "users.toml"),
               # The catch-up would take up earlier tests' tickets; a test of it turns it on.
               BOUNCER_CATCHUP_MINUTES="0")
    env.update(settings)
    return Bouncer(mode, workdir / "bouncer.sqlite", workdir / "gunicorn.log", env, port)


def temp_workdir() -> Iterator[Path]:
    """A directory the znuny user can read (mails to feed), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="bouncer-e2e-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


TICKET_SUBJECT = re.compile(r"\[Ticket#(\d+)\]")
