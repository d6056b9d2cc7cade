"""The admin's pages: the review queue and one decision (confirm, false positive, correct, undo), the
rules (read-only policy, the allowlist) and the status panel. Page logins: users.py."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..mail import valid_address
from ..otrs import OtrsError
from ..policy import BUILTIN
from ..store.allowlist import allow_warning
from ..vocab import (
    ACTION_STATES,
    ALLOW_KINDS,
    BOUNCE_TYPES,
    CATEGORIES,
    EVENT_SOURCES,
    KINDS,
    PERSON_CATEGORIES,
    PLAN_ACTIONS,
    REVIEWS,
)
from ..vocab import kind as kind_of
from . import auth, params
from .common import not_found, service, store, user_name, verdict_or_404
from .labels import LABELS, label

PAGE_SIZE = 50

admin = Blueprint("admin", __name__, url_prefix="/admin")
admin.before_request(auth.require_role("admin"))


# --- admin: review queue ---------------------------------------------------------------------

class FalsePositiveForm(FlaskForm):
    note = TextAreaField(_l("Why (goes into the internal note on the ticket)"), validators=[Optional(),
                                                                                           Length(max=1000)])
    allow = RadioField(_l("From now on"), default="none", choices=[
        SelectChoice("none", _l("no rule")), SelectChoice("sender", _l("never treat this sender as machine mail")),
        SelectChoice("domain", _l("never treat this domain as machine mail"))])


BULK_CONFIDENCE = 0.9  # bulk confirm takes machine mail at least this sure (or the filter's higher minimum)
BULK_LIMIT = 1000  # decisions confirmed by one click, newest first; the button stays while more are left
_REVIEW_ARGS = ("category", "review", "action", "state", "min_conf", "max_conf", "since", "until", "mailing",
                "source", "q", "show_quiet")


def _review_filters() -> dict[str, Any]:
    """The queue's filters from the query string. A person's mail nobody reviewed and we did nothing to
    is hidden unless asked for (?show_quiet=1) or a person's mail is what the filter picks."""
    category = params.choice_arg("category", CATEGORIES)
    return {"category": category, "review": params.choice_arg("review", REVIEWS),
            "action": params.choice_arg("action", PLAN_ACTIONS),
            "action_state": params.choice_arg("state", ACTION_STATES),
            "min_conf": params.fraction_arg("min_conf"), "max_conf": params.fraction_arg("max_conf"),
            "mailing_id": params.int_arg("mailing"), "source": params.choice_arg("source", EVENT_SOURCES),
            "q": request.args.get("q", "").strip()[:200] or None,
            "hide_quiet": request.args.get("show_quiet") != "1" and category != "human",
            **params.date_filters()}


@admin.get("/review")
def review() -> ResponseReturnValue:
    page = params.page()
    filters = _review_filters()
    rows = store().list_verdicts(**filters, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    threshold = max(BULK_CONFIDENCE, filters["min_conf"] or 0)
    # Offered where the filter can hold such decisions at all (else the look would read the whole queue).
    bulk = (filters["review"] in (None, "pending") and filters["category"] not in PERSON_CATEGORIES
            and (filters["max_conf"] is None or filters["max_conf"] >= threshold)
            and store().any_verdicts(**{**filters, "review": "pending", "min_conf": threshold, "machine_only": True}))
    return render_template(
        "review.html", verdicts=rows[:PAGE_SIZE], has_next=len(rows) > PAGE_SIZE, page=page,
        args={k: request.args.get(k, "") for k in _REVIEW_ARGS}, hide_quiet=filters["hide_quiet"],
        bulk=bulk, threshold=threshold, bulk_limit=BULK_LIMIT,
        categories=CATEGORIES, reviews=REVIEWS, actions=PLAN_ACTIONS, states=ACTION_STATES, sources=EVENT_SOURCES)


@admin.post("/review/confirm-many")
def confirm_many() -> ResponseReturnValue:
    """Confirm every unreviewed machine-mail decision of the queue's filter (in the URL) at or above the
    chosen confidence; a person's mail never."""
    filters = _review_filters()
    threshold = max(BULK_CONFIDENCE, filters.pop("min_conf") or 0)
    filters.pop("review")
    done = store().confirm_many(user_name(), min_conf=threshold, limit=BULK_LIMIT, **filters)
    flash(ngettext("%(num)s decision confirmed.", "%(num)s decisions confirmed.", done), "info")
    back: dict[str, Any] = request.args.to_dict()
    return redirect(url_for("admin.review", **back))


@admin.get("/review/<int:verdict_id>")
def verdict(verdict_id: int) -> ResponseReturnValue:
    item = verdict_or_404(verdict_id)
    correct = CorrectForm(kind=kind_of(item["category"], item["bounce_type"]),
                          addresses=", ".join(item["recipients"] or []))
    return _verdict_page(item, correct)


def _verdict_page(item: Any, correct: CorrectForm, status: int = 200) -> ResponseReturnValue:
    mailing_id = item["mailing_id"]
    mailing = store().get_mailing(mailing_id) if mailing_id else None
    return render_template("verdict.html", v=item, mailing=mailing, form=FalsePositiveForm(), correct=correct,
                           can_download=service().otrs is not None), status


class CorrectForm(FlaskForm):
    """What the mail really was: a kind of the press pages (a bounce with its type) and, for a bounce,
    the failed addresses."""

    kind = SelectField(_l("This mail is really"), choices=[SelectChoice(k, LABELS["kind"][k]) for k in KINDS])
    addresses = StringField(_l("Failed addresses (for a bounce; comma-separated)"),
                            validators=[Optional(), Length(max=2000)])


@admin.post("/review/<int:verdict_id>/correct")
def correct(verdict_id: int) -> ResponseReturnValue:
    """Correct the verdict's category: counts and the dead-address list follow; the ticket stays as it is."""
    item = verdict_or_404(verdict_id)
    form = CorrectForm()
    if not form.validate_on_submit() or form.kind.data not in KINDS:
        flash(_("Please check the form."), "error")
        return redirect(url_for("admin.verdict", verdict_id=verdict_id))
    kind = form.kind.data
    category, bounce_type = ("bounce", kind) if kind in BOUNCE_TYPES else (kind, None)
    addresses = [a.strip() for a in (form.addresses.data or "").replace(";", ",").split(",") if a.strip()]
    wrong = [a for a in addresses if not valid_address(a)]
    if wrong:
        form.addresses.errors = [_("Not an e-mail address: %(values)s", values=", ".join(wrong))]
        return _verdict_page(item, form, 400)
    store().correct_verdict(verdict_id, category, bounce_type, user_name(), addresses=addresses)
    flash(_("Decision #%(id)s corrected: %(was)s → %(now)s. Counts and dead addresses follow; the ticket in "
            "OTRS stays as it is.", id=verdict_id, was=label("kind", kind_of(item["category"], item["bounce_type"])),
            now=label("kind", kind)), "info")
    return redirect(url_for("admin.verdict", verdict_id=verdict_id))


def _was(item: Any) -> tuple[str, str | None]:
    """The category and bounce type a corrected verdict had before its last correction."""
    before = item.get("before_correction") or {}
    return before.get("category") or item["category"], before.get("bounce_type")


def _back(verdict_id: int) -> ResponseReturnValue:
    target = request.form.get("next")
    return redirect(auth.safe_next(target) if target else url_for("admin.verdict", verdict_id=verdict_id))


@admin.post("/review/<int:verdict_id>/confirm")
def confirm(verdict_id: int) -> ResponseReturnValue:
    verdict_or_404(verdict_id)
    store().set_review(verdict_id, "confirmed", user_name())
    flash(_("Decision #%(id)s confirmed.", id=verdict_id), "info")
    return _back(verdict_id)


@admin.post("/review/<int:verdict_id>/undo")
def undo(verdict_id: int) -> ResponseReturnValue:
    """Take back a confirm, a correction or a false positive (a slip of the mouse); a reopen already sent
    stays."""
    item = verdict_or_404(verdict_id)
    if item["review"] == "pending":
        return _back(verdict_id)
    undone = store().undo_review(verdict_id, user_name())
    if undone == "corrected":
        flash(_("Correction of #%(id)s taken back: it is %(kind)s again.", id=verdict_id,
                kind=label("kind", kind_of(*_was(item)))), "info")
    elif undone == "false_positive":
        flash(_("Review of #%(id)s taken back. The ticket stays as it is now in OTRS.", id=verdict_id), "info")
    else:
        flash(_("Review of #%(id)s taken back.", id=verdict_id), "info")
    return _back(verdict_id)


@admin.post("/review/<int:verdict_id>/false-positive")
def false_positive(verdict_id: int) -> ResponseReturnValue:
    """Reopen the ticket as it was (Service.reopen) and, if asked, allow the sender or domain from now on."""
    item = verdict_or_404(verdict_id)
    form = FalsePositiveForm()
    if not form.validate_on_submit():
        flash(_("Please check the form."), "error")
        return redirect(url_for("admin.verdict", verdict_id=verdict_id))
    if item["review"] == "false_positive":
        flash(_("Decision #%(id)s is already marked as a false positive.", id=verdict_id), "error")
        return redirect(url_for("admin.verdict", verdict_id=verdict_id))
    if item["category"] in PERSON_CATEGORIES:  # we took it for a person's mail: there is nothing to reopen
        flash(_("Decision #%(id)s already says a person wrote this; to change what it is, correct the category.",
                id=verdict_id), "error")
        return redirect(url_for("admin.verdict", verdict_id=verdict_id))
    user, note = user_name(), (form.note.data or "").strip()
    if service().reopen(verdict_id, user, note) == "pending":
        flash(_("Marked as a false positive; the ticket is being reopened in OTRS."), "info")
    else:
        flash(_("Marked as a false positive. Nothing had been changed on the ticket, so nothing is reopened."),
              "info")
    if form.allow.data in ALLOW_KINDS:
        value = item["from_addr"] if form.allow.data == "sender" else item["from_domain"]
        try:
            _add_rule(form.allow.data, value or "", note or None, verdict_id)
        except ValueError:
            flash(_("No rule added: %(value)s is not a valid address or domain.", value=value or "–"), "error")
    return redirect(url_for("admin.verdict", verdict_id=verdict_id))


@admin.get("/review/<int:verdict_id>/mail.eml")
def mail_eml(verdict_id: int) -> ResponseReturnValue:
    """The raw mail from OTRS (AgentTicketPlain), to become a test fixture."""
    item = verdict_or_404(verdict_id)
    otrs = service().otrs
    if otrs is None:
        return not_found(_("The mail can only be downloaded when OTRS credentials are configured."))
    try:
        raw = otrs.article_plain(item["ticket_id"], item["article_id"])
    except OtrsError as exc:
        flash(_("OTRS did not hand out the mail: %(error)s", error=exc.code), "error")
        return redirect(url_for("admin.verdict", verdict_id=verdict_id))
    name = f"ticket-{item['ticket_id']}-article-{item['article_id']}.eml"
    return Response(raw, mimetype="message/rfc822", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Security-Policy": "sandbox; default-src 'none'"})


# --- admin: rules ----------------------------------------------------------------------------

class AllowForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[SelectChoice("sender", _l("Sender")), SelectChoice("domain", _l("Domain"))])
    value = StringField(_l("Address or domain"), validators=[DataRequired(message=_l("Please enter a value.")),
                                                              Length(max=320)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


def _add_rule(kind: str, value: str, note: str | None, verdict_id: int | None = None) -> None:
    """Add an allowlist rule and say what happened: added, or there already (ValueError: not valid)."""
    known = {rule["id"] for rule in store().allowlist()}
    rule_id = store().add_allow(kind, value, note=note, by=user_name(), verdict_id=verdict_id)
    if rule_id in known:
        flash(_("This rule already exists: %(kind)s %(value)s.", kind=label("allow", kind), value=value), "info")
    else:
        flash(_("Rule added: %(kind)s %(value)s is never machine mail.", kind=label("allow", kind), value=value),
              "info")
    if allow_warning(kind, value):
        flash(_("%(value)s is a large mail provider: the rule covers every one of its users, so none of "
                "their auto-replies will be closed. A rule for the one sender is usually better.", value=value),
              "error")


@admin.route("/rules", methods=["GET", "POST"])
def rules() -> ResponseReturnValue:
    form = AllowForm()
    status = 200
    if form.validate_on_submit():
        kind, value = form.kind.data, (form.value.data or "").strip()
        try:
            _add_rule(kind, value, form.note.data or None)
        except ValueError:
            form.value.errors = [_("%(value)s is a domain, not a sender: choose the kind Domain.", value=value)
                                 if kind == "sender" and value.startswith("@") else
                                 _("Not a valid address or domain.")]
        else:
            return redirect(url_for("admin.rules"))
    if form.errors:
        status = 400
    policy = service().policy
    source = _("the built-in defaults") if policy.source == BUILTIN else policy.source
    return render_template("rules.html", policy=policy, source=source, rules=policy.describe(),
                           allowlist=store().allowlist(), form=form, mode=service().config.mode), status


@admin.post("/rules/allow/<int:allow_id>/delete")
def remove_allow(allow_id: int) -> ResponseReturnValue:
    if store().remove_allow(allow_id):
        flash(_("Rule removed."), "info")
    return redirect(url_for("admin.rules"))


# --- admin: status ------------------------------------------------------------------------

@admin.get("/status")
def status() -> ResponseReturnValue:
    """Is it working? Mode, webhook secured, last event, outbox backlog, and the background jobs' last runs."""
    stats = store().stats()
    due = store().due_actions(limit=1)
    return render_template("status.html", config=service().config, stats=stats, oldest_due=due[0] if due else None,
                           backlog=stats["outbox"]["pending"] + stats["outbox"]["running"],
                           last_sweep=store().last_run("sweep"), last_catchup=store().last_run("catchup"))
