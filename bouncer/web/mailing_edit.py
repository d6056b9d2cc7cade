"""Completing a mailing from its page (press role): its Message-ID and its recipients.

Only a Message-ID a person copied from the sent mail is trusted (a forged bounce can carry any, see
store/addresses.py bounce_check), and a recipient list decides which bounces count; so a mailing found
in replies, or registered without its Message-ID or with only part of its recipients, is completed
here, on the mailing it is, never as a second one.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from ..mail import recipient_list
from ..store import MailingExists
from . import auth
from .common import mailing_stats_or_404, store

MAX_RECIPIENTS_TEXT = 12 * 1024 * 1024  # characters: about 300,000 addresses; more by API, in batches

bp = Blueprint("mailing_edit", __name__)
bp.before_request(auth.require_role("press"))


class RecipientListField(TextAreaField):
    """A pasted recipient list (mail.recipient_list), read once: `addresses` after the form took the data;
    an entry that is no address refuses the whole list, naming the entries."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.addresses: list[str] = []
        self._wrong: list[str] = []

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        self.addresses, self._wrong = recipient_list(self.data or "")

    def pre_validate(self, form: FlaskForm) -> None:
        if self._wrong:
            raise ValidationError(_("Not an address: %(values)s. Nothing was registered.",
                                    values=", ".join(self._wrong[:5])))


def message_id_taken(exists: MailingExists) -> str:
    """Which registered mailing has the Message-ID a user gave, by its subject."""
    other = store().get_mailing(exists.mailing_id)
    return _("The Message-ID belongs to the registered mailing “%(subject)s” (no. %(id)s); nothing was changed.",
             subject=(other["subject"] if other else None) or "–", id=exists.mailing_id)


class MessageIdForm(FlaskForm):
    """The Message-ID of a mailing found in replies, or registered without one."""

    message_id = StringField(_l("Message-ID of the mail you sent (from your sent folder)"),
                             validators=[DataRequired(message=_l("Please copy the Message-ID from the mail you sent.")),
                                         Length(max=998)])
    anyway = BooleanField(_l("Register it even if no reply names this Message-ID"))


class RecipientsForm(FlaskForm):
    """More recipients of a registered mailing."""

    recipients = RecipientListField(_l("All recipient addresses (one per line): only their bounces count"),
                                    validators=[DataRequired(message=_l("Please paste the addresses.")),
                                                Length(max=MAX_RECIPIENTS_TEXT)])


def warn_if_list_incomplete(mailing_id: int) -> None:
    """After a recipient list: bounces for addresses not on it suggest the list is not complete."""
    missing = store().bounces_not_listed(mailing_id)
    if missing:
        flash(ngettext("%(num)s address that bounced for this mailing is not in the list, so its bounces do not "
                       "count. Is the list complete?",
                       "%(num)s addresses that bounced for this mailing are not in the list, so their bounces do not "
                       "count. Is the list complete?", missing), "error")


@bp.post("/mailings/<int:mailing_id>/message-id")
def message_id(mailing_id: int) -> ResponseReturnValue:
    """Give this mailing the Message-ID of the sent mail. A typo would leave every bounce uncounted, so a
    Message-ID no reply of the mailing names is taken only when the user says so."""
    mailing = mailing_stats_or_404(mailing_id)["mailing"]
    back = redirect(url_for("press.mailing", mailing_id=mailing_id))
    form = MessageIdForm()
    if not form.validate_on_submit():
        for error in form.message_id.errors:
            flash(str(error), "error")
        return back
    assert form.message_id.data is not None
    if mailing["origin"] != "auto" and mailing["message_id"]:
        flash(_("This mailing is registered with its Message-ID already."), "error")
        return back
    if not form.anyway.data and not store().replies_naming(mailing_id, form.message_id.data):
        flash(_("No reply to this mailing names the Message-ID %(id)s. Mistyped? Compare it with the mail in your "
                "sent folder; if it is right, tick “%(anyway)s”.", id=form.message_id.data,
                anyway=form.anyway.label.text), "error")
        return back
    try:
        store().name_mailing(mailing_id, form.message_id.data)
    except MailingExists as exists:
        flash(message_id_taken(exists), "error")
        return back
    flash(_("Mailing registered: bounces naming its Message-ID count from now on."), "info")
    return back


@bp.post("/mailings/<int:mailing_id>/recipients")
def recipients(mailing_id: int) -> ResponseReturnValue:
    """Add recipients to a registered mailing; its bounces are checked again."""
    mailing = mailing_stats_or_404(mailing_id)["mailing"]
    back = redirect(url_for("press.mailing", mailing_id=mailing_id))
    form = RecipientsForm()
    if mailing["origin"] == "auto":
        flash(_("Register the mailing with its Message-ID first."), "error")
        return back
    if not form.validate_on_submit():
        for error in form.recipients.errors:
            flash(str(error), "error")
        return back
    added = store().add_recipients(mailing_id, form.recipients.addresses)
    flash(ngettext("%(num)s recipient added.", "%(num)s recipients added.", added), "info")
    warn_if_list_incomplete(mailing_id)
    return back
