"""A fake Znuny 7 on 127.0.0.1 that answers with the captured traffic of a real one.

Every answer body is taken from ../shared/otrs-wire (override with OTRS_WIRE_DIR): ticket
data from the rich TicketGet captures, success and error bodies from the REST captures,
raw mails and the login page from the AgentTicketPlain captures. What the fake adds is
state, so a test can follow a story: sessions it issued, tickets whose State, Queue,
dynamic fields and articles change with TicketUpdate, and an outage switch. It records
every request, so tests assert on what the client really put on the wire.
"""
from __future__ import annotations

import copy
import json
import os
import re
import secrets
import string
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import unquote_plus

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

WIRE_DIR_ENV = "OTRS_WIRE_DIR"
AGENT_SESSION_COOKIE = "OTRSAgentInterface"
JSON_TYPE = "application/json; charset=UTF-8"  # what the captured REST answers carry
HOLD_SECONDS = 30.0  # longest a held download waits (hold_downloads)

# The richest TicketGet per ticket (AllArticles, Attachments, DynamicFields all on).
TICKET_CAPTURES = (
    "rest-ticketget-bounce.json",  # ticket 2: agent reply + Postfix DSN follow-up
    "rest-ticketget-ooo-mdn-reply.json",  # ticket 3: Exchange OOO, MDN, human reply
    "rest-ticketget-vacation-newticket.json",  # ticket 4: generic vacation reply
    "rest-ticketget-bounce-unknown-newticket.json",  # ticket 5: Exim DSN, unknown Message-ID
)
# A note as Znuny stored it after rest-ticketupdate-note (ArticleID 12); new notes copy it.
NOTE_TEMPLATE = ("rest-ticketget-after-updates.json", 2, 12)

# Znuny 7's default states; IDs and types of new/open/closed successful are also in the captures.
STATES: dict[str, tuple[int, str]] = {
    "new": (1, "new"),
    "closed successful": (2, "closed"),
    "closed unsuccessful": (3, "closed"),
    "open": (4, "open"),
    "removed": (5, "removed"),
    "pending reminder": (6, "pending reminder"),
    "pending auto close+": (7, "pending auto"),
    "pending auto close-": (8, "pending auto"),
    "merged": (9, "merged"),
}
# Znuny's default queues (Postmaster and Misc are in the captures) and the capture system's "Bounces".
QUEUES: dict[str, int] = {"Postmaster": 1, "Raw": 2, "Junk": 3, "Misc": 4, "Bounces": 5}
SEARCH_CRITERIA = frozenset({"SessionID", "Title", "States", "StateType", "Queues", "Limit", "SortBy", "OrderBy",
                             "TicketCreateTimeNewerDate", "TicketCreateTimeOlderDate", "ArticleCreateTimeNewerDate"})


Operation = Literal["SessionCreate", "TicketGet", "TicketUpdate", "TicketSearch", "AgentTicketPlain", "Unknown"]


def default_wire_dir() -> Path:
    """OTRS_WIRE_DIR, else ../shared/otrs-wire next to the repository."""
    env = os.environ.get(WIRE_DIR_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "otrs-wire"


@dataclass(frozen=True)
class Received:
    """One request as the fake saw it."""

    operation: Operation
    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    cookies: dict[str, str]


@dataclass(frozen=True)
class RawCapture:
    """A captured HTTP response from a .http file: status, headers worth replaying, body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def response(self) -> Response:
        return Response(self.body, status=self.status, headers=self.headers)


class Wire:
    """Read-only access to the capture directory."""

    # Hop-by-hop or recomputed by the fake's own server.
    _SKIP_HEADERS = frozenset({"date", "server", "content-length", "transfer-encoding", "connection"})

    def __init__(self, directory: Path) -> None:
        if not (directory / "README.md").is_file():
            raise FileNotFoundError(f"no otrs-wire captures in {directory} (set {WIRE_DIR_ENV})")
        self.dir = directory

    def rest(self, name: str) -> dict[str, Any]:
        """A rest-*.json capture (request and response) by name without prefix/suffix."""
        return json.loads((self.dir / f"rest-{name}.json").read_text(encoding="utf-8"))

    def answer(self, name: str) -> Any:
        """The response body of a REST capture, as a fresh copy."""
        return copy.deepcopy(self.rest(name)["response"]["body_json"])

    def request_body(self, name: str) -> Any:
        return copy.deepcopy(self.rest(name)["request"]["body"])

    def tickets(self) -> dict[int, dict[str, Any]]:
        tickets = {}
        for filename in TICKET_CAPTURES:
            ticket = json.loads((self.dir / filename).read_text(encoding="utf-8"))["response"]["body_json"]["Ticket"][0]
            tickets[int(ticket["TicketID"])] = ticket
        return tickets

    def note_template(self) -> dict[str, Any]:
        filename, ticket_id, article_id = NOTE_TEMPLATE
        tickets = json.loads((self.dir / filename).read_text(encoding="utf-8"))["response"]["body_json"]["Ticket"]
        ticket = next(t for t in tickets if t["TicketID"] == ticket_id)
        return next(a for a in ticket["Article"] if a["ArticleID"] == article_id)

    def plain_downloads(self) -> dict[tuple[int, int], RawCapture]:
        """AgentTicketPlain captures with a session, by (TicketID, ArticleID) of their request."""
        found = {}
        for path in sorted(self.dir.glob("web-agentticketplain-download-*.http")):
            if path.name.endswith("-nosession.http"):
                continue
            first_line = path.read_bytes().split(b"\n", 1)[0].decode()
            ids = dict(re.findall(r"(TicketID|ArticleID)=(\d+)", first_line))
            found[(int(ids["TicketID"]), int(ids["ArticleID"]))] = self.http(path.name)
        return found

    def http(self, filename: str) -> RawCapture:
        """Parse a .http capture: '###' comment lines, status line, headers, blank line, body."""
        data = (self.dir / filename).read_bytes()
        start = data.index(b"HTTP/1.1 ")
        head, _, body = data[start:].partition(b"\n\n")
        status_line, *header_lines = head.decode("latin-1").split("\n")
        headers = []
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.lower() not in self._SKIP_HEADERS:
                headers.append((name, value.strip()))
        return RawCapture(int(status_line.split()[1]), headers, body)


class _QuickStopServer(HTTPServer):
    """Stops in milliseconds: werkzeug's default 0.5 s shutdown poll adds up over many tests."""

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.02)


class FakeZnuny:
    """Znuny's REST provider (web service BounceWebhook) and AgentTicketPlain over real HTTP."""

    def __init__(
        self,
        wire_dir: Path | None = None,
        *,
        user: str = "root@localhost",
        password: str = "agent-password",
        prefix: str = "/znuny",
        webservice: str = "BounceWebhook",
    ) -> None:
        self.wire = Wire(wire_dir or default_wire_dir())
        self.user = user
        self.password = password
        self.prefix = prefix
        self.webservice = webservice
        self.received: list[Received] = []
        self.tickets = self.wire.tickets()
        self.sessions: set[str] = set()
        self._downloads = self.wire.plain_downloads()
        self._login_page = self.wire.http("web-agentticketplain-download-nosession.http")
        self._note_template = self.wire.note_template()
        self._outage: Literal["503", "refuse"] | None = None
        self._downloads_held: threading.Event | None = None
        self._failing: dict[tuple[Operation, int], str] = {}
        self._next_article_id = 1 + max(a["ArticleID"] for t in self.tickets.values() for a in t["Article"])
        self.server = _QuickStopServer(host="127.0.0.1", port=0)
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeZnuny:
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving and re-raise anything that went wrong inside a handler."""
        if self.server.is_running():
            self.server.stop()
        self.server.check_handler_errors()

    def __enter__(self) -> FakeZnuny:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Like BOUNCER_OTRS_URL: index.pl and nph-genericinterface.pl live below it."""
        return f"http://127.0.0.1:{self.server.port}{self.prefix}"

    @property
    def rest_url(self) -> str:
        return f"{self.base_url}/nph-genericinterface.pl/Webservice/{self.webservice}"

    # -- test controls -----------------------------------------------------------------

    def down(self, mode: Literal["503", "refuse"] = "503") -> None:
        """Simulate an outage: answer 503 to everything, or stop listening (connection refused)."""
        self._outage = mode
        if mode == "refuse":
            self.server.stop()

    def up(self) -> None:
        """End the outage; the port stays the same, so clients need no new URL."""
        if self._outage == "refuse":
            self.server.start()
        self._outage = None

    def hold_downloads(self) -> threading.Event:
        """Keep AgentTicketPlain downloads waiting (at most HOLD_SECONDS) until the returned event is
        set: the worker that asked stays inside its request, e.g. to be killed there."""
        self._downloads_held = threading.Event()
        return self._downloads_held

    def add_ticket(self, ticket: dict[str, Any]) -> None:
        """Serve one more ticket, in TicketGet's shape (DynamicField lists, `Article` a list)."""
        self.tickets[int(ticket["TicketID"])] = ticket
        self._next_article_id = max(self._next_article_id, 1 + max((a["ArticleID"] for a in ticket["Article"]),
                                                                   default=0))

    def add_article(self, ticket_id: int, article: dict[str, Any]) -> int:
        """A mail arriving on an existing ticket (as PostMaster would add it); returns its new ArticleID."""
        ticket = self.tickets[ticket_id]
        article = {**article, "ArticleID": self._next_article_id, "TicketID": ticket_id,
                   "ArticleNumber": len(ticket["Article"]) + 1}
        self._next_article_id += 1
        ticket["Article"].append(article)
        return article["ArticleID"]

    def fail(self, ticket_id: int, operation: Operation, capture: str) -> None:
        """Answer `operation` on this ticket with the error body of a REST capture, at HTTP 200 as Znuny
        does (e.g. "ticketupdate-badstate", "ticketget-badticketid")."""
        self._failing[(operation, ticket_id)] = capture

    def expire_sessions(self) -> None:
        """Forget every issued session, as Znuny does after SessionMaxIdleTime."""
        self.sessions.clear()

    def requests_for(self, operation: Operation) -> list[Received]:
        return [r for r in self.received if r.operation == operation]

    def dynamic_field(self, ticket_id: int, name: str) -> Any:
        """Current value of a ticket dynamic field (None when unset)."""
        return next((f["Value"] for f in self.tickets[ticket_id]["DynamicField"] if f["Name"] == name), None)

    # -- dispatch ----------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        query = _query(request.query_string.decode("latin-1"))
        body = request.get_json(silent=True) if request.data else None
        operation = self._operation(request)
        self.received.append(Received(operation, request.method, request.path, query, body,
                                      dict(request.headers), dict(request.cookies)))
        if self._outage == "503":
            return Response("Service Unavailable", status=503, content_type="text/plain")
        params = {**query, **(body if isinstance(body, dict) else {})}
        if operation == "AgentTicketPlain":
            return self._agent_ticket_plain(params, request.cookies.get(AGENT_SESSION_COOKIE))
        if operation == "Unknown":
            return self._unknown_route(request.path)
        if operation == "SessionCreate":
            return self._session_create(params)
        if params.get("SessionID") not in self.sessions:
            return self._json(self._auth_fail(operation))
        ticket_id = request.path.rsplit("/", 1)[1]
        failing = self._failing.get((operation, int(ticket_id))) if ticket_id.isdigit() else None
        if failing:
            return self._json(self.wire.answer(failing))
        if operation == "TicketGet":
            return self._json(self._ticket_get(ticket_id, params))
        if operation == "TicketUpdate":
            return self._json(self._ticket_update(ticket_id, params))
        return self._json(self._ticket_search(params))

    def _operation(self, request: Request) -> Operation:
        if request.path == f"{self.prefix}/index.pl":
            query = _query(request.query_string.decode("latin-1"))
            if query.get("Action") == "AgentTicketPlain" and query.get("Subaction") == "Download":
                return "AgentTicketPlain"
            return "Unknown"
        route = request.path.removeprefix(f"{self.prefix}/nph-genericinterface.pl/Webservice/{self.webservice}")
        method = request.method
        # The RouteOperationMapping of webservice-BounceWebhook.yml.
        if route == "/Session" and method == "POST":
            return "SessionCreate"
        if re.fullmatch(r"/Ticket/[^/]+", route):
            if method in ("GET", "POST"):
                return "TicketGet"
            if method in ("PATCH", "PUT"):
                return "TicketUpdate"
        if route == "/TicketSearch" and method in ("GET", "POST"):
            return "TicketSearch"
        return "Unknown"

    # -- operations --------------------------------------------------------------------

    def _session_create(self, params: dict[str, Any]) -> Response:
        if params.get("UserLogin") != self.user or params.get("Password") != self.password:
            return self._json(self.wire.answer("sessioncreate-badcreds"))
        session_id = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
        self.sessions.add(session_id)
        answer = self.wire.answer("sessioncreate")
        answer["SessionID"] = session_id
        return self._json(answer)

    def _auth_fail(self, operation: str) -> dict[str, Any]:
        """rest-ticketget-badsession, with the operation name Znuny puts in code and message."""
        answer = self.wire.answer("ticketget-badsession")
        error = answer["Error"]
        error["ErrorCode"] = error["ErrorCode"].replace("TicketGet", operation)
        error["ErrorMessage"] = error["ErrorMessage"].replace("TicketGet", operation)
        return answer

    def _ticket_get(self, ticket_id: str, params: dict[str, Any]) -> dict[str, Any]:
        ticket = self.tickets.get(int(ticket_id)) if ticket_id.isdigit() else None
        if ticket is None:
            return self.wire.answer("ticketget-badticketid")
        return {"Ticket": [_shape_ticket(ticket, params)]}

    def _ticket_update(self, ticket_id: str, params: dict[str, Any]) -> dict[str, Any]:
        ticket = self.tickets.get(int(ticket_id)) if ticket_id.isdigit() else None
        if ticket is None:
            return self.wire.answer("ticketupdate-badticketid")
        changes = params.get("Ticket") or {}
        if "State" in changes and changes["State"] not in STATES:
            return self.wire.answer("ticketupdate-badstate")
        if "State" in changes:
            ticket["State"] = changes["State"]
            ticket["StateID"], ticket["StateType"] = STATES[changes["State"]]
        if "Queue" in changes:
            ticket["Queue"] = changes["Queue"]
            ticket["QueueID"] = QUEUES.get(changes["Queue"], max(QUEUES.values()) + 1)
        fields = params.get("DynamicField") or []
        for field in [fields] if isinstance(fields, dict) else fields:
            self._set_dynamic_field(ticket, field["Name"], field["Value"])
        if params.get("Article"):
            article_id = self._add_article(ticket, params["Article"])
            answer = self.wire.answer("ticketupdate-note")
            answer["ArticleID"] = article_id
        else:
            answer = self.wire.answer("ticketupdate-close")
        answer["TicketID"] = str(ticket["TicketID"])
        answer["TicketNumber"] = ticket["TicketNumber"]
        return answer

    def _ticket_search(self, params: dict[str, Any]) -> dict[str, Any]:
        """A subset of TicketSearch; unsupported criteria fail loudly instead of matching all."""
        unsupported = [k for k in params if k not in SEARCH_CRITERIA and not k.startswith("DynamicField_")]
        if unsupported:
            raise NotImplementedError(f"FakeZnuny TicketSearch does not emulate {unsupported}")
        found = [t for t in self.tickets.values() if _search_matches(t, params)]
        # Newest first, as rest-ticketsearch-open shows.
        ids = [str(t["TicketID"]) for t in sorted(found, key=lambda t: t["TicketID"], reverse=True)]
        if "Limit" in params:
            ids = ids[: int(params["Limit"])]
        if not ids:
            return {}
        answer = self.wire.answer("ticketsearch-open")
        answer["TicketID"] = ids
        return answer

    def _agent_ticket_plain(self, params: dict[str, Any], cookie: str | None) -> Response:
        if self._downloads_held is not None:
            self._downloads_held.wait(HOLD_SECONDS)
        if cookie not in self.sessions:
            return self._login_page.response()
        capture = self._downloads.get((int(params.get("TicketID", 0)), int(params.get("ArticleID", 0))))
        if capture is None:
            return Response("FakeZnuny: no AgentTicketPlain capture for this article", status=404,
                            content_type="text/plain")
        return capture.response()

    def _unknown_route(self, path: str) -> Response:
        capture = self.wire.rest("unknown-route")["response"]
        rest_base = f"{self.prefix}/nph-genericinterface.pl/Webservice/{self.webservice}"
        text = capture["body_raw"].replace("/NoSuchRoute", path.removeprefix(rest_base))
        return Response(text, status=capture["status"], content_type=dict(capture["headers"])["Content-Type"])

    # -- state helpers -----------------------------------------------------------------

    @staticmethod
    def _set_dynamic_field(ticket: dict[str, Any], name: str, value: Any) -> None:
        for field in ticket["DynamicField"]:
            if field["Name"] == name:
                field["Value"] = value
                return
        ticket["DynamicField"].append({"Name": name, "Value": value})

    def _add_article(self, ticket: dict[str, Any], requested: dict[str, Any]) -> int:
        article_id = self._next_article_id
        self._next_article_id += 1
        article = copy.deepcopy(self._note_template)
        article.update(
            ArticleID=article_id,
            ArticleNumber=len(ticket["Article"]) + 1,
            TicketID=ticket["TicketID"],
            Subject=requested.get("Subject", ""),
            Body=requested.get("Body", ""),
            IsVisibleForCustomer=int(requested.get("IsVisibleForCustomer", 1)),
            SenderType=requested.get("SenderType", article["SenderType"]),
            CreateTime=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        )
        if "ContentType" in requested:
            article["ContentType"] = requested["ContentType"]
        ticket["Article"].append(article)
        return article_id

    @staticmethod
    def _json(body: Any) -> Response:
        return Response(json.dumps(body), status=200, content_type=JSON_TYPE)


def _query(query_string: str) -> dict[str, str]:
    """Perl CGI style: both ';' and '&' separate parameters (index.pl uses ';')."""
    pairs = (item.partition("=") for item in re.split(r"[;&]", query_string) if item)
    return {unquote_plus(key): unquote_plus(value) for key, _, value in pairs}


def _flag(params: dict[str, Any], name: str) -> bool:
    return str(params.get(name, "0")) == "1"


def _shape_ticket(ticket: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """What TicketGet returns for these options (compare rest-ticketget-minimal, -lastarticle, ...)."""
    shaped = copy.deepcopy(ticket)
    articles = shaped.pop("Article")
    if not _flag(params, "DynamicFields"):
        shaped.pop("DynamicField", None)
        for article in articles:
            article.pop("DynamicField", None)
    if _flag(params, "AllArticles"):
        if "ArticleSenderType" in params:
            wanted = params["ArticleSenderType"]
            articles = [a for a in articles if a["SenderType"] in ([wanted] if isinstance(wanted, str) else wanted)]
        if str(params.get("ArticleOrder", "ASC")).upper() == "DESC":
            articles.reverse()
        if "ArticleLimit" in params:
            articles = articles[: int(params["ArticleLimit"])]
        if not _flag(params, "Attachments"):
            for article in articles:
                article.pop("Attachment", None)
        shaped["Article"] = articles
    return shaped


def _search_matches(ticket: dict[str, Any], params: dict[str, Any]) -> bool:
    if "Title" in params:
        pattern = "^" + ".*".join(map(re.escape, str(params["Title"]).split("%"))) + "$"
        if not re.match(pattern, ticket["Title"], re.I):
            return False
    for key, attribute in (("States", "State"), ("StateType", "StateType"), ("Queues", "Queue")):
        wanted = params.get(key)
        if wanted is not None and ticket[attribute] not in ([wanted] if isinstance(wanted, str) else wanted):
            return False
    # Znuny's times are "YYYY-MM-DD HH:MM:SS" text in one zone: compared as text, as its SQL does.
    if "TicketCreateTimeNewerDate" in params and ticket["Created"] < params["TicketCreateTimeNewerDate"]:
        return False
    if "TicketCreateTimeOlderDate" in params and ticket["Created"] > params["TicketCreateTimeOlderDate"]:
        return False
    if "ArticleCreateTimeNewerDate" in params and not any(
            a["CreateTime"] >= params["ArticleCreateTimeNewerDate"] for a in ticket["Article"]):
        return False
    for key, condition in params.items():
        if key.startswith("DynamicField_"):
            name = key.removeprefix("DynamicField_")
            value = next((f["Value"] for f in ticket["DynamicField"] if f["Name"] == name), None)
            if set(condition) != {"Equals"}:
                raise NotImplementedError(f"FakeZnuny TicketSearch emulates only Equals, not {condition}")
            if value != condition["Equals"]:
                return False
    return True
