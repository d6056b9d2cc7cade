"""JSON API with the press numbers: mailings, one mailing's counts and timeline, failed and dead addresses.

Authentication: a page user from the users file (role press or admin), either
- HTTP Basic with that user's name and password (for scripts), or
- the login session cookie of the pages; then writes also need the form's CSRF token in
  the `X-CSRFToken` header, as a page form would.
The webhook's credentials open nothing here. Writes take JSON only (`Content-Type:
application/json`), which no cross-site HTML form can send.

    GET  /api/v1/mailings?q=&limit=&offset=   (+ "no_mailing": counts of machine mail about none of them)
    POST /api/v1/mailings                    {"subject", "sent_at", "message_id"?, "recipient_count"?, "recipients"?}
    POST /api/v1/mailings/<id>/recipients    {"recipients": [...]}  (a registered mailing's known recipients)
    GET  /api/v1/mailings/<id>?bucket=hour|day
    GET  /api/v1/mailings/<id>/failed?limit=&offset=          (all when no limit)
    GET  /api/v1/dead?mailing=&since=&until=&limit=&offset=   (dates YYYY-MM-DD, local, until included)
    GET  /api/v1/alive-again?mailing=&since=&until=     (when they wrote to us)
    POST of a Message-ID registered before answers 409 (Location: that mailing), never overwrites it.

Only bounces naming a registered mailing's Message-ID count toward dead addresses, and, where the
mailing's recipients are known, only bounces for those addresses (store/addresses.py bounce_check).
`sent_at` is ISO 8601; without a UTC offset it is Berlin time, as on the pages. Times in answers are UTC.
A filter value that cannot be read (`since=30.11.2026`, `mailing=abc`) answers 400 with the reason.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import to_utc

from ..mail import plausible_year, recipient_list
from ..store import MailingExists, NotFoundError, Store
from . import auth, params, security

PREFIX = "/api/v1"
bp = Blueprint("api", __name__, url_prefix=PREFIX)
MAX_LIMIT = 500
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _store() -> Store:
    return current_app.extensions["bouncer"].store


def error(status: int, message: str) -> Response:
    """A JSON error answer: {"error": message}."""
    response = jsonify({"error": message})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="otrs-bouncer API", charset="UTF-8"'
    return response


@bp.errorhandler(params.BadParameter)
def bad_parameter(exc: params.BadParameter) -> Response:
    """A filter value that cannot be read: 400 with the reason, never the unfiltered list."""
    return error(400, exc.reason(localized=False))


@bp.before_request
def authenticate() -> ResponseReturnValue | None:
    """A page user by session (+ CSRF token on writes) or by HTTP Basic; writes must be JSON."""
    user = auth.current_user()
    if user is None:
        basic = request.authorization
        if basic is not None and basic.type == "basic" and basic.username and basic.password is not None:
            user, wait = auth.check_password(basic.username, basic.password)
            if wait:
                response = error(429, f"too many failed logins: try again in {wait} seconds")
                response.headers["Retry-After"] = str(wait)
                return response
        if user is None:
            return error(401, "log in to the pages, or use HTTP Basic with a page user")
        g.user = user
    elif request.method not in _SAFE_METHODS:
        security.csrf.protect()
    if request.method not in _SAFE_METHODS and not request.is_json:
        return error(415, "send JSON (Content-Type: application/json)")
    return None


def _limit() -> tuple[int, int]:
    limit = params.int_arg("limit") or 50
    return min(limit, MAX_LIMIT), params.int_arg("offset") or 0


@bp.get("/mailings")
def mailings() -> ResponseReturnValue:
    limit, offset = _limit()
    rows = _store().list_mailings(limit=limit, offset=offset, q=request.args.get("q") or None)
    return jsonify({"mailings": rows, "limit": limit, "offset": offset,
                    "no_mailing": _store().no_mailing_stats(limit=0)["counts"]})


@bp.post("/mailings")
def register() -> ResponseReturnValue:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "body must be a JSON object")
    problem, values = _mailing(body)
    if problem:
        return error(400, problem)
    try:
        mailing_id = _store().register_mailing(**values, origin="api")
    except MailingExists as exists:
        response = error(409, f"a mailing with message_id {exists.message_id} is already registered: "
                              f"{url_for('api.mailing', mailing_id=exists.mailing_id)}")
        response.headers["Location"] = url_for("api.mailing", mailing_id=exists.mailing_id)
        return response
    response = jsonify({"id": mailing_id, "mailing": _store().get_mailing(mailing_id)})
    response.status_code = 201
    response.headers["Location"] = url_for("api.mailing", mailing_id=mailing_id)
    return response


def _mailing(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """('', arguments for Store.register_mailing) or (what is wrong, {})."""
    subject, sent_at = body.get("subject"), body.get("sent_at")
    message_id, count, recipients = body.get("message_id"), body.get("recipient_count"), body.get("recipients")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 500:
        return "subject: a non-empty string of at most 500 characters is required", {}
    try:
        sent = datetime.fromisoformat(sent_at) if isinstance(sent_at, str) else None
    except ValueError:
        sent = None
    if sent is None:
        return "sent_at: an ISO 8601 date and time is required, e.g. 2026-11-28T09:30:00+01:00", {}
    if not plausible_year(sent):
        return "sent_at: a year from 1970 to 2999", {}
    if sent.tzinfo is None:
        sent = to_utc(sent)  # a time without offset is the association's (Berlin) time
    if message_id is not None and (not isinstance(message_id, str) or len(message_id) > 998):
        return "message_id: a string, if given", {}
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        return "recipient_count: a whole number from 0, if given", {}
    problem, listed = _addresses(recipients if recipients is not None else [])
    if problem:
        return problem, {}
    return "", {"subject": subject, "sent_at": sent, "message_id": message_id or None, "recipient_count": count,
                "recipients": listed}


def _addresses(value: Any) -> tuple[str, list[str]]:
    """('', bare addresses) of a JSON `recipients` list, or (what is wrong, [])."""
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        return "recipients: a list of address strings, if given", []
    listed, wrong = recipient_list("\n".join(value))
    if wrong:
        return f"recipients: not an address: {', '.join(wrong[:5])}", []
    return "", listed


@bp.post("/mailings/<int:mailing_id>/recipients")
def add_recipients(mailing_id: int) -> ResponseReturnValue:
    """More known recipients for a registered mailing: `{"recipients": [...]}`; its bounces are checked again."""
    body = request.get_json(silent=True)
    problem, listed = _addresses(body.get("recipients") if isinstance(body, dict) else None)
    if problem:
        return error(400, problem)
    try:
        added = _store().add_recipients(mailing_id, listed)
    except NotFoundError:
        return error(404, "no such mailing")
    except ValueError as exc:
        return error(409, str(exc))
    return jsonify({"id": mailing_id, "added": added, "known": _store().recipients_known(mailing_id)})


@bp.get("/mailings/<int:mailing_id>")
def mailing(mailing_id: int) -> ResponseReturnValue:
    stats = _store().mailing_stats(mailing_id, bucket=params.bucket())
    if stats is None:
        return error(404, "no such mailing")
    return jsonify(stats)


@bp.get("/mailings/<int:mailing_id>/failed")
def failed(mailing_id: int) -> ResponseReturnValue:
    """All failed addresses of the mailing (or ?limit=&offset=), each flagged dead / alive_again."""
    if _store().get_mailing(mailing_id) is None:
        return error(404, "no such mailing")
    rows = _store().failed_addresses(mailing_id, limit=params.int_arg("limit"), offset=params.int_arg("offset") or 0)
    total = rows[0]["total"] if rows else 0
    addresses = [{key: value for key, value in row.items() if key != "total"}
                 | {"alive_again": not row["dead"] and bool(row["alive_since"])} for row in rows]
    return jsonify({"mailing_id": mailing_id, "total": total, "addresses": addresses})


@bp.get("/dead")
def dead() -> ResponseReturnValue:
    limit, offset = _limit()
    filters = params.dead_filters()
    return jsonify({"total": _store().count_dead_addresses(**filters), "limit": limit, "offset": offset,
                    "addresses": _store().dead_addresses(**filters, limit=limit, offset=offset)})


@bp.get("/alive-again")
def alive_again() -> ResponseReturnValue:
    return jsonify({"addresses": _store().revived_addresses(mailing_id=params.int_arg("mailing"),
                                                            **params.date_filters())})


@bp.get("/opt-outs")
def opt_outs() -> ResponseReturnValue:
    """Addresses that asked to be taken off the list (?mailing= for one mailing; ?limit=&offset=)."""
    mailing_id = params.int_arg("mailing")
    if mailing_id is not None and _store().get_mailing(mailing_id) is None:
        return error(404, "no such mailing")
    limit, offset = _limit()
    rows = _store().opt_outs(mailing_id, limit=limit, offset=offset)
    total = rows[0]["total"] if rows else 0
    return jsonify({"total": total, "limit": limit, "offset": offset, "mailing_id": mailing_id,
                    "addresses": [{key: value for key, value in row.items() if key not in ("total", "evidence")}
                                  for row in rows]})
