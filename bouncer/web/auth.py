"""Logins for the pages: a users file, a login form, two roles, and `flask user add`.

The users file (BOUNCER_USERS_FILE, default `users.toml` next to the database) holds one
table per user: ``[users."name"]`` with ``role = "press" | "admin"`` and a werkzeug
``password_hash``. It is the only source of page logins: the webhook's credentials open no
page. Admin sees everything press sees. On the very first start, when the file does not
exist, it is created with one `admin` user and a random password that is logged once.

The session cookie holds the user name, a fingerprint of the password hash (an HMAC, so the
cookie reveals nothing of the hash) and the user's session generation: changing a password or
removing a user in the file ends that user's sessions on the next request, and so does logout,
which bumps the generation kept server-side (bouncer.web.loginstate, with the login throttle).
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import Blueprint, Flask, current_app, flash, g, redirect, render_template, request, session, url_for
from flask.cli import AppGroup
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from ..config import Config
from .loginstate import LoginState, client_address, login_state_path

log = logging.getLogger("bouncer.auth")

ROLES = ("press", "admin")
USERS_FILENAME = "users.toml"
MIN_PASSWORD_CHARS = 10
SESSION_LIFETIME = timedelta(hours=12)
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")

bp = Blueprint("auth", __name__)


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str

    def can(self, role: str) -> bool:
        """Admin may do everything press may do."""
        return self.role == "admin" or self.role == role


class UsersFile:
    """The users file, re-read when it changes on disk (a `flask user add` takes effect at once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, User] = {}

    def users(self) -> dict[str, User]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._users, self._stamp = read_users(self.path), stamp
            return self._users

    def get(self, name: str) -> User | None:
        return self.users().get(name)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password is right; the same work is done for unknown names."""
        user = self.get(name)
        if not check_password_hash(user.password_hash if user else _dummy_hash(), password) or user is None:
            return None
        return user


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the user is unknown, so a wrong name costs the same time as a wrong password.
    Made on the first login attempt, not at import (a `flask user` command needs none)."""
    return generate_password_hash(secrets.token_hex(16))


def login_state() -> LoginState:
    return current_app.extensions["bouncer_logins"]


def remote() -> str:
    """The client's address: from BOUNCER_CLIENT_ADDRESS_HEADER behind a proxy, else the socket's."""
    header = current_app.config["BOUNCER"].client_address_header
    return client_address(request.remote_addr, request.headers.get(header) if header else None)


def check_password(name: str, password: str) -> tuple[User | None, int]:
    """(the user or None, seconds to wait): the one place pages and API check a password, throttled
    per (name, client address) and per name across all workers (bouncer.web.loginstate)."""
    state, address = login_state(), remote()
    wait = state.retry_after(name, address)
    if wait:
        log.warning("password check throttled", extra={"remote": address, "retry_after": wait})
        return None, wait
    user = users_file().authenticate(name, password)
    if user is None:
        state.failed(name, address)
    else:
        state.succeeded(name, address)
    return user, 0


def read_users(path: Path) -> dict[str, User]:
    """Parse the users file ({} when there is none); entries with an unknown role or no hash are
    skipped with a warning."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    users: dict[str, User] = {}
    for name, entry in (data.get("users") or {}).items():
        role, password_hash = entry.get("role"), entry.get("password_hash")
        if role not in ROLES or not isinstance(password_hash, str) or not password_hash:
            log.warning("users file entry skipped: needs role press|admin and a password_hash",
                        extra={"user": name, "file": str(path)})
            continue
        users[name] = User(name, role, password_hash)
    return users


def write_users(path: Path, users: dict[str, User]) -> None:
    """Write the whole file atomically, readable by its owner only (it holds password hashes)."""
    lines = ["# otrs-bouncer page logins; manage with: flask --app app user add NAME --role admin|press", ""]
    for user in sorted(users.values(), key=lambda u: u.name):
        # JSON strings are valid TOML basic strings.
        lines += [f"[users.{json.dumps(user.name)}]", f"role = {json.dumps(user.role)}",
                  f"password_hash = {json.dumps(user.password_hash)}", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    os.replace(tmp, path)


def users_path(config: Config) -> Path:
    return Path(config.users_file) if config.users_file else Path(config.db_path).parent / USERS_FILENAME


def bootstrap(path: Path) -> str | None:
    """Create the users file with an `admin` user if there is none; returns the password, or None.

    O_EXCL makes this safe when several gunicorn workers start at once: exactly one creates it.
    """
    if path.exists():  # the usual case: no scrypt hash to compute
        return None
    password = secrets.token_urlsafe(15)
    admin = User("admin", "admin", generate_password_hash(password))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    os.close(fd)
    write_users(path, {"admin": admin})
    return password


def users_file() -> UsersFile:
    return current_app.extensions["bouncer_users"]


def current_user() -> User | None:
    """The logged-in user of this request, checked against the users file every time."""
    if "user" not in g:
        g.user = None
        name = session.get("user")
        user = users_file().get(name) if isinstance(name, str) else None
        if (user is not None and hmac.compare_digest(str(session.get("fp", "")), _fingerprint(user))
                and session.get("gen") == login_state().generation(user.name)):
            g.user = user
    return g.user


def _fingerprint(user: User) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"{user.name}\0{user.password_hash}".encode(), hashlib.sha256).hexdigest()[:32]


def login_user(user: User) -> None:
    session.clear()  # a fresh session: no fixation, no leftovers from an earlier login
    session.permanent = True
    session["user"], session["fp"] = user.name, _fingerprint(user)
    session["gen"] = login_state().generation(user.name)  # logout bumps it: the cookie then stops working
    g.user = user


def require_role(role: str) -> Callable[[], ResponseReturnValue | None]:
    """A blueprint `before_request` hook: log in first, then have the role (admin always has)."""
    def check() -> ResponseReturnValue | None:
        user = current_user()
        if user is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if not user.can(role):
            return render_template("error.html", code=403, message=_("Your role may not open this page.")), 403
        return None
    return check


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would make our login page a phishing tool."""
    if not target:
        return url_for("press.mailings")
    if any(ch.isspace() or not ch.isprintable() for ch in target):
        return url_for("press.mailings")  # CR/LF would split the Location header (werkzeug refuses: 500)
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("press.mailings")
    return target


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(message=_l("Please enter your user name."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(message=_l("Please enter your password."))])


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        user, wait = check_password(form.username.data or "", form.password.data or "")
        if wait:
            flash(_("Too many failed logins. Please try again in %(minutes)d minutes.", minutes=wait // 60 + 1),
                  "error")
            return render_template("login.html", form=form), 429, {"Retry-After": str(wait)}
        if user is not None:
            login_user(user)
            log.info("page login", extra={"user": user.name, "role": user.role, "remote": remote()})
            return redirect(safe_next(request.args.get("next")))
        name = form.username.data or ""
        # Never log what looks like a password typed into the name field.
        log.warning("page login refused", extra={"user": name if _NAME.match(name) else "(not a user name)",
                                                 "remote": remote()})
        flash(_("User name or password is wrong."), "error")
    return render_template("login.html", form=form), 200 if request.method == "GET" or form.errors else 401


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    user = current_user()
    if user is not None:
        login_state().end_sessions(user.name)  # every copy of this user's cookies, in every worker
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


# --- CLI ---------------------------------------------------------------------------------

user_cli = AppGroup("user", help="Manage the logins of the pages (the users file).")


@user_cli.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="press: mailings and dead addresses; "
              "admin: also the review queue and the rules.")
@click.password_option(help="Prompted for when not given.")
def add_user_command(name: str, role: str, password: str) -> None:
    """Add a user, or set an existing user's role and password."""
    if not _NAME.match(name):
        raise click.BadParameter("letters, digits and . _ @ - only, at most 64", param_hint="NAME")
    if len(password) < MIN_PASSWORD_CHARS:
        raise click.BadParameter(f"at least {MIN_PASSWORD_CHARS} characters", param_hint="password")
    path = users_path(current_app.config["BOUNCER"])
    users = read_users(path)
    existed = name in users
    users[name] = User(name, role, generate_password_hash(password))
    write_users(path, users)
    click.echo(f"{'updated' if existed else 'added'} {name} ({role}) in {path}")


@user_cli.command("remove")
@click.argument("name")
def remove_user_command(name: str) -> None:
    """Remove a user; their open sessions end with their next request."""
    path = users_path(current_app.config["BOUNCER"])
    users = read_users(path)
    if users.pop(name, None) is None:
        raise click.ClickException(f"no user {name!r} in {path}")
    write_users(path, users)
    click.echo(f"removed {name} from {path}")


def init_app(app: Flask) -> None:
    """Users file (created on first start), login routes, session lifetime and the `user` command."""
    config: Config = app.config["BOUNCER"]
    path = users_path(config)
    password = bootstrap(path)
    if password is not None:
        log.warning(
            "#################### FIRST START: page login created (shown only this once) ####################  "
            f"user: admin  password: {password}  file: {path}  -- change it with: "
            "flask --app app user add admin --role admin",
            extra={"users_file": str(path)})
    app.extensions["bouncer_users"] = UsersFile(path)
    app.extensions["bouncer_logins"] = LoginState(login_state_path(config.db_path))
    app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME
    app.register_blueprint(bp)
    app.cli.add_command(user_cli)
