"""Page logins managed in the browser (admin only): the same users file `flask user add/remove` writes.

Adding a user who exists sets their role and password; a changed password or a removed user
ends their sessions on their next click (the session carries a fingerprint of the hash, see
auth.py). An admin cannot remove or demote themselves, so there is always an admin left who
can log in. Read-modify-write of the file runs under an exclusive lock on `<users file>.lock`,
so two admins (or an admin and the CLI, which does not take it, at worst the last writer
wins) do not lose each other's change within the pages.
"""
from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.security import generate_password_hash
from wtforms import PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from . import auth

bp = Blueprint("users", __name__, url_prefix="/admin/users")
bp.before_request(auth.require_role("admin"))


class UserForm(FlaskForm):
    name = StringField(_l("User name"), validators=[
        DataRequired(message=_l("Please enter a user name.")),
        Regexp(r"^[A-Za-z0-9._@-]{1,64}$", message=_l("Letters, digits and . _ @ - only, at most 64."))])
    role = SelectField(_l("Role"), choices=[SelectChoice("press", _l("Press office: mailings and dead addresses")),
                                            SelectChoice("admin", _l("Admin: also review, rules, status and users"))],
                       default="press")
    password = PasswordField(_l("Password"), validators=[
        DataRequired(message=_l("Please enter a password.")),
        Length(min=auth.MIN_PASSWORD_CHARS, max=200,
               message=_l("At least %(n)s characters.", n=auth.MIN_PASSWORD_CHARS))])


class RemoveForm(FlaskForm):
    """Only the CSRF token: the user to remove is in the URL."""


def _path() -> Path:
    return auth.users_path(current_app.config["BOUNCER"])


@contextmanager
def _locked() -> Iterator[Path]:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _me() -> str:
    user = auth.current_user()
    assert user is not None  # require_role let only logged-in admins through
    return user.name


@bp.route("", methods=["GET", "POST"])
def users() -> ResponseReturnValue:
    form = UserForm()
    if form.validate_on_submit():
        name, role = form.name.data or "", form.role.data or "press"
        if name == _me() and role != "admin":
            form.role.errors = [_("You cannot take your own admin role; another admin can.")]
        else:
            with _locked() as path:
                found = auth.read_users(path)
                existed = name in found
                found[name] = auth.User(name, role, generate_password_hash(form.password.data or ""))
                auth.write_users(path, found)
            flash(_("User %(name)s updated.", name=name) if existed else _("User %(name)s added.", name=name), "info")
            return redirect(url_for("users.users"))
    listed = sorted(auth.read_users(_path()).values(), key=lambda u: (u.role != "admin", u.name))
    return render_template("users.html", users=listed, form=form, remove=RemoveForm(), me=_me()), \
        400 if form.errors else 200


@bp.post("/<name>/delete")
def remove(name: str) -> ResponseReturnValue:
    if not RemoveForm().validate_on_submit():
        flash(_("Please check the form."), "error")
    elif name == _me():
        flash(_("You cannot remove yourself; another admin can."), "error")
    else:
        with _locked() as path:
            found = auth.read_users(path)
            gone = found.pop(name, None)
            if gone is not None:
                auth.write_users(path, found)
        if gone is not None:
            flash(_("User %(name)s removed; their open sessions end with their next click.", name=name), "info")
    return redirect(url_for("users.users"))
