"""A small, synchronous client for the Znuny/OTRS REST provider and the raw-mail download.

Shapes follow real Znuny 7.0.19 traffic (../shared/otrs-wire): the GenericTicketConnector
operations of our `BounceWebhook` web service (docs/znuny-setup.md, znuny/var/otrs-bouncer/BounceWebhook.yml)
and the agent UI endpoint `AgentTicketPlain`, which is the only way to get a mail's raw
RFC 822 source. The client makes each call once: retries with backoff belong to the
caller's outbox, which sees `OtrsError.retryable` to decide. The one exception is an
expired session, which is renewed once in place because that is not a failure at all.

The session ID travels in JSON bodies and a cookie only, never in a URL, so it cannot
end up in proxy access logs or in the URL a transport exception prints.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import quote

import requests

from . import znuny
from .config import Config

# Cookie name of the agent interface (Znuny's SessionName default, as captured).
AGENT_SESSION_COOKIE = "OTRSAgentInterface"
# Znuny answers a request with a missing or expired session this way (rest-ticketget-badsession).
_SESSION_ERROR_SUFFIX = ".AuthFail"
_SESSION_CREATE_OPERATION = "SessionCreate"
# Transient HTTP answers; any other non-200 status is a configuration problem.
_RETRYABLE_STATUS = frozenset({408, 429})
# Znuny's state types of a ticket still open. Named one by one: TicketSearch over REST answers
# StateType "Open" (the agent interface's shorthand) with no ticket at all (seen on Znuny 7.0.19).
OPEN_STATE_TYPES = ("new", "open", "pending reminder", "pending auto")
SEARCH_LIMIT = 100_000  # TicketSearch's own default is far lower; a sweep wants every hit


class OtrsError(Exception):
    """Znuny refused or could not serve a request; `retryable` says whether trying later may help."""

    def __init__(self, code: str, message: str, retryable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


class OtrsUnavailable(OtrsError):
    """Znuny could not be reached or answered 5xx: always worth retrying later."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, retryable=True)


@dataclass(frozen=True)
class Note:
    """An internal note: agents see it in the ticket, the customer never does."""

    subject: str
    body: str

    def as_article(self) -> dict[str, Any]:
        """The TicketUpdate `Article` exactly as rest-ticketupdate-note sent it."""
        return {
            "CommunicationChannel": "Internal",
            "IsVisibleForCustomer": 0,
            "SenderType": "agent",
            "Subject": self.subject,
            "Body": self.body,
            "ContentType": "text/plain; charset=utf8",
        }


class OtrsClient:
    """REST operations of one Znuny web service plus the raw-mail download, behind one session."""

    def __init__(
        self,
        base_url: str,
        webservice: str,
        user: str,
        password: str,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("OTRS base URL must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.webservice = webservice
        self.user = user
        self._password = password
        self.timeout = timeout
        self._http = session or requests.Session()
        self._session_id: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config, session: requests.Session | None = None) -> OtrsClient:
        """Build the client from BOUNCER_OTRS_* settings; they must all be set."""
        if not (config.otrs_url and config.otrs_user and config.otrs_password):
            raise ValueError("BOUNCER_OTRS_URL, BOUNCER_OTRS_USER and BOUNCER_OTRS_PASSWORD must be set")
        return cls(config.otrs_url, config.otrs_webservice, config.otrs_user, config.otrs_password,
                   config.otrs_timeout, session)

    def __repr__(self) -> str:
        return f"OtrsClient({self.base_url!r}, webservice={self.webservice!r}, user={self.user!r})"

    @property
    def rest_url(self) -> str:
        return f"{self.base_url}/nph-genericinterface.pl/Webservice/{quote(self.webservice, safe='')}"

    # -- session -----------------------------------------------------------------------

    def session_id(self) -> str:
        """The cached SessionID, created with UserLogin/Password on first use."""
        with self._lock:
            if self._session_id is None:
                data = self._call("POST", "/Session", {"UserLogin": self.user, "Password": self._password},
                                  _SESSION_CREATE_OPERATION)
                session_id = data.get("SessionID")
                if not isinstance(session_id, str) or not session_id:
                    raise OtrsError("SessionCreate.NoSessionID", "Znuny answered without a SessionID", False)
                self._session_id = session_id
            return self._session_id

    def _forget_session(self, session_id: str) -> None:
        with self._lock:
            if self._session_id == session_id:
                self._session_id = None

    def _with_session(self, request: Callable[[str], Any]) -> Any:
        """Run `request(session_id)`; on an invalid session, log in again and retry once."""
        session_id = self.session_id()
        try:
            return request(session_id)
        except _SessionInvalid:
            self._forget_session(session_id)
        try:
            return request(self.session_id())
        except _SessionInvalid as exc:
            raise OtrsError(exc.code, f"{exc.message} (also with a fresh session)", retryable=False) from None

    # -- REST operations ---------------------------------------------------------------

    def ticket_get(self, ticket_id: int, **options: Any) -> dict[str, Any]:
        """TicketGet: the `Ticket` dict; options as Znuny names them (AllArticles=1, DynamicFields=1, ...)."""
        path = f"/Ticket/{quote(str(ticket_id), safe='')}"
        params = {key: _wire_value(value) for key, value in options.items()}
        data = self._with_session(lambda sid: self._call("POST", path, {"SessionID": sid, **params}, "TicketGet"))
        try:
            return znuny.get_ticket(data, ticket_id)
        except znuny.ZnunyFormatError as exc:
            raise OtrsError("TicketGet.NoTicket", str(exc), False) from None

    def ticket_with_articles(self, ticket_id: int, page_size: int = 30
                             ) -> tuple[dict[str, Any], list[dict[str, Any]], set[int]]:
        """The ticket (dynamic fields on), all its articles oldest first, and the ids of those read
        without their attachments.

        TicketGet has no article offset (ArticleID is ignored, otrs-wire with-articleid), so long
        tickets are paged this way: one call gets the newest `page_size` articles with attachments;
        only when the page is full, a second call lists every article without attachments, and the
        ones outside the first page are returned as such (`customer_articles` gets their
        attachments when needed). Most tickets take one call."""
        ticket = self.ticket_get(ticket_id, AllArticles=True, Attachments=True, DynamicFields=True,
                                 ArticleOrder="DESC", ArticleLimit=page_size)
        newest = znuny.ticket_articles(ticket)
        if len(newest) < page_size:
            return ticket, newest, set()
        listed = znuny.ticket_articles(self.ticket_get(ticket_id, AllArticles=True, DynamicFields=True))
        full = {a.get("ArticleID"): a for a in newest}
        partial = {int(a["ArticleID"]) for a in listed if a.get("ArticleID") not in full}
        return ticket, [full.get(a.get("ArticleID"), a) for a in listed], partial

    def customer_articles(self, ticket_id: int, wanted: set[int], page_size: int = 30) -> dict[int, dict[str, Any]]:
        """Customer articles with attachments, newest first in pages that double (ArticleSenderType,
        ArticleOrder=DESC, ArticleLimit), until every id in `wanted` is there or the ticket has no more."""
        found: dict[int, dict[str, Any]] = {}
        limit = page_size
        while True:
            ticket = self.ticket_get(ticket_id, AllArticles=True, Attachments=True, DynamicFields=True,
                                     ArticleSenderType=["customer"], ArticleOrder="DESC", ArticleLimit=limit)
            articles = znuny.ticket_articles(ticket)
            found = {int(a["ArticleID"]): a for a in articles if str(a.get("ArticleID", "")).isdigit()}
            if wanted <= set(found) or len(articles) < limit:
                return found
            limit *= 2

    def open_ticket_ids(self, queues: Sequence[str] = (), created_after: datetime | None = None,
                        created_before: datetime | None = None, zone: tzinfo = UTC,
                        limit: int = SEARCH_LIMIT) -> list[int]:
        """TicketSearch for open tickets (the state types in OPEN_STATE_TYPES), in the given queues or
        every queue the agent may read; oldest first."""
        criteria: dict[str, Any] = {"StateType": list(OPEN_STATE_TYPES), "Limit": limit}
        if queues:
            criteria["Queues"] = list(queues)
        if created_after is not None:
            criteria["TicketCreateTimeNewerDate"] = znuny.wire_time(created_after, zone)
        if created_before is not None:
            criteria["TicketCreateTimeOlderDate"] = znuny.wire_time(created_before, zone)
        return sorted(self.ticket_search(**criteria))

    def tickets_with_articles_since(self, since: datetime, zone: tzinfo = UTC,
                                    limit: int = SEARCH_LIMIT) -> list[int]:
        """TicketSearch for tickets, in any state, with an article created at or after `since`; oldest first."""
        return sorted(self.ticket_search(ArticleCreateTimeNewerDate=znuny.wire_time(since, zone), Limit=limit))

    def ticket_update(
        self,
        ticket_id: int,
        *,
        state: str | None = None,
        queue: str | None = None,
        dynamic_fields: Mapping[str, str] | None = None,
        note: Note | None = None,
        pending_minutes: int | None = None,
    ) -> dict[str, Any]:
        """One TicketUpdate with everything given, so a verdict's actions land together or not at all."""
        ticket: dict[str, Any] = {}
        if state is not None:
            ticket["State"] = state
        if queue is not None:
            ticket["Queue"] = queue
        if pending_minutes is not None:
            ticket["PendingTime"] = {"Diff": pending_minutes}
        body: dict[str, Any] = {}
        if ticket:
            body["Ticket"] = ticket
        if dynamic_fields:
            fields = [{"Name": name, "Value": value} for name, value in dynamic_fields.items()]
            body["DynamicField"] = fields[0] if len(fields) == 1 else fields
        if note is not None:
            body["Article"] = note.as_article()
        if not body:
            raise ValueError("ticket_update needs at least one change")
        path = f"/Ticket/{quote(str(ticket_id), safe='')}"
        return self._with_session(lambda sid: self._call("PATCH", path, {"SessionID": sid, **body}, "TicketUpdate"))

    def ticket_history(self, ticket_id: int) -> dict[str, Any]:
        """TicketHistoryGet: the answer as Znuny sends it (`{"TicketHistory": [{"TicketID", "History": [...]}]}`);
        read it with `znuny.state_change_for`."""
        path = f"/TicketHistory/{quote(str(ticket_id), safe='')}"
        return self._with_session(lambda sid: self._call("POST", path, {"SessionID": sid}, "TicketHistoryGet"))

    def ticket_search(self, **criteria: Any) -> list[int]:
        """TicketSearch: matching TicketIDs (Znuny returns them as strings, newest first)."""
        params = {key: _wire_value(value) for key, value in criteria.items()}
        data = self._with_session(
            lambda sid: self._call("POST", "/TicketSearch", {"SessionID": sid, **params}, "TicketSearch"))
        try:
            return znuny.search_ticket_ids(data)
        except znuny.ZnunyFormatError as exc:
            raise OtrsError("TicketSearch.BadResponse", str(exc), False) from None

    # -- agent interface ---------------------------------------------------------------

    def article_plain(self, ticket_id: int, article_id: int) -> bytes:
        """The stored raw RFC 822 source of an article, via the agent UI's AgentTicketPlain download."""
        url = (f"{self.base_url}/index.pl?Action=AgentTicketPlain;TicketID={int(ticket_id)};"
               f"ArticleID={int(article_id)};Subaction=Download")
        return self._with_session(lambda sid: self._download_plain(url, sid))

    def _download_plain(self, url: str, session_id: str) -> bytes:
        response = self._send("GET", url, "AgentTicketPlain", cookies={AGENT_SESSION_COOKIE: session_id})
        content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if response.status_code == 200 and content_type == "message/rfc822":
            return response.content
        if response.status_code == 200 and "X-OTRS-Login" in response.headers:
            # The login page, still HTTP 200 (web-agentticketplain-download-nosession.http).
            raise _SessionInvalid("AgentTicketPlain.AuthFail", "Znuny answered with its login page")
        self._raise_for_status(response, "AgentTicketPlain")
        raise OtrsError("AgentTicketPlain.NotRFC822",
                        f"expected message/rfc822, got {content_type or 'no content type'}", retryable=False)

    # -- transport ---------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any], operation: str) -> dict[str, Any]:
        """One REST request; Znuny's HTTP-200 `Error` bodies become exceptions here."""
        response = self._send(method, self.rest_url + path, operation, json=body,
                              headers={"Accept": "application/json"})
        self._raise_for_status(response, operation)
        try:
            data = response.json()
        except ValueError:
            raise OtrsError(f"{operation}.BadResponse", "the answer is not JSON", retryable=False) from None
        if not isinstance(data, dict):
            raise OtrsError(f"{operation}.BadResponse", "the answer is not a JSON object", retryable=False)
        error = data.get("Error")
        if isinstance(error, dict):
            code = str(error.get("ErrorCode") or f"{operation}.Error")
            message = self._scrub(str(error.get("ErrorMessage") or ""))
            if code.endswith(_SESSION_ERROR_SUFFIX) and operation != _SESSION_CREATE_OPERATION:
                raise _SessionInvalid(code, message)
            # Znuny got and judged the request: sending it again gets the same answer.
            raise OtrsError(code, message, retryable=False)
        return data

    def _send(self, method: str, url: str, operation: str, **kwargs: Any) -> requests.Response:
        try:
            return self._http.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise OtrsUnavailable(f"{operation}.Timeout", f"no answer from Znuny within {self.timeout}s") from None
        except requests.RequestException as exc:
            raise OtrsUnavailable(f"{operation}.Unreachable", f"{type(exc).__name__} talking to Znuny") from None

    def _raise_for_status(self, response: requests.Response, operation: str) -> None:
        status = response.status_code
        if status == 200:
            return
        detail = self._scrub(response.text[:200].strip()) if response.headers.get(
            "Content-Type", "").startswith("text/plain") else response.reason or ""
        message = f"HTTP {status} {detail}".rstrip()
        if status >= 500 or status in _RETRYABLE_STATUS:
            raise OtrsUnavailable(f"{operation}.HTTP{status}", message)
        raise OtrsError(f"{operation}.HTTP{status}", message, retryable=False)

    def _scrub(self, text: str) -> str:
        """Text from Znuny, minus our password should it ever echo it."""
        return text.replace(self._password, "***") if self._password else text


class _SessionInvalid(OtrsError):
    """Internal: the session was refused; `_with_session` logs in again once."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, retryable=False)


def _wire_value(value: Any) -> Any:
    """Booleans as Znuny's 1/0 flags; everything else as given."""
    return int(value) if isinstance(value, bool) else value
