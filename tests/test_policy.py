"""The policy: validated at start with messages that name the key, and decisions that never close
a person's mail or a ticket with human correspondence."""
from __future__ import annotations

from pathlib import Path

import pytest

from bouncer.policy import MARKER, Policy, PolicyError, TicketContext, decide, label
from bouncer.verdict import Original, Verdict

HARD = Verdict(category="bounce", confidence=0.98, bounce_type="hard", reason="user_unknown", status="5.1.1",
               recipients=("a@example.org",), evidence=("dsn: Action: failed",),
               original=Original(message_id="<pm-1@x>", subject="Pressemitteilung"))
OOO = Verdict(category="auto_reply", confidence=0.95, evidence=("autoreply: Auto-Submitted: auto-replied",))
NEW = TicketContext(state="new", previous_state="new", queue="Presse")


def test_built_in_defaults_close_confident_hard_bounces_and_tag_soft_ones() -> None:
    policy = Policy.load()
    plan = decide(policy, HARD, NEW)
    assert (plan.action, plan.state, dict(plan.dynamic_fields)) == (
        "close", "closed successful", {"MailClassification": "bounce-hard"})
    assert plan.note_body and plan.note_body.startswith(MARKER) and "a@example.org" in plan.note_body
    soft = decide(policy, HARD.with_(bounce_type="soft", status="4.2.2"), NEW)
    assert (soft.action, soft.state) == ("tag", None)


def test_below_min_confidence_a_close_becomes_a_tag() -> None:
    plan = decide(Policy.load(), OOO.with_(confidence=0.6), NEW)
    assert (plan.action, plan.state) == ("tag", None)
    assert "below" in plan.why


def test_human_mail_gets_no_plan_at_all() -> None:
    plan = decide(Policy.load(), Verdict(category="human", confidence=0.9), NEW)
    assert plan.action == "none" and plan.is_empty


def test_a_ticket_with_human_correspondence_is_never_closed_and_gets_its_state_back() -> None:
    context = TicketContext(state="open", previous_state="pending reminder", queue="Presse", conversation=True,
                            conversation_why="agent article")
    plan = decide(Policy.load(), OOO, context)
    assert (plan.action, plan.state) == ("restore", "pending reminder")
    unchanged = decide(Policy.load(), OOO, TicketContext(state="open", previous_state="open", conversation=True))
    assert (unchanged.action, unchanged.state) == ("tag", None)


def test_move_rule_moves_to_its_queue(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[rules.feedback_report]\naction = "move"\nqueue = "Missbrauch"\nmin_confidence = 0.5\n')
    report = Verdict(category="feedback_report", confidence=0.97, evidence=("arf",))
    plan = decide(Policy.load(str(path)), report, NEW)
    assert (plan.action, plan.queue) == ("move", "Missbrauch")


OPT_OUT = Verdict(category="unsubscribe", confidence=0.98, recipients=("j.albers@example.org",),
                  evidence=("unsubscribe: X-Apple-Unsubscribe: true",))


def test_an_opt_out_request_is_tagged_by_default_never_closed_and_may_go_to_a_queue(tmp_path: Path) -> None:
    plan = decide(Policy.load(), OPT_OUT, NEW)
    assert (plan.action, plan.state, dict(plan.dynamic_fields)) == ("tag", None, {"MailClassification": "unsubscribe"})
    assert plan.note_body and "Address to remove from the list: j.albers@example.org" in plan.note_body
    path = tmp_path / "policy.toml"
    path.write_text('[rules.unsubscribe]\naction = "move"\nqueue = "Presse::Abmeldungen"\n')
    moved = decide(Policy.load(str(path)), OPT_OUT, NEW)
    assert (moved.action, moved.queue, moved.state) == ("move", "Presse::Abmeldungen", None)


@pytest.mark.parametrize("text, message", [
    ('[rules.bounce_hard]\naction = "close"\n', "needs a state"),
    ('[rules.feedback_report]\naction = "move"\n', "needs a queue"),
    ('[rules.auto_reply]\naction = "delete"\n', "action must be one of"),
    ('[rules.human]\naction = "tag"\n', "never acted on"),
    ('[rules.unsubscribe]\naction = "close"\nstate = "closed successful"\n', "a person's wish"),
    ('[rules.newsletter]\naction = "tag"\n', "[rules.newsletter] is not one of"),
    ('[rules.auto_reply]\naction = "close"\nstate = "closed"\nmin_confidence = 2\n', "min_confidence"),
    ('[rules.auto_reply]\nacton = "tag"\n', "unknown key(s) acton"),
    ('[dead_address]\nsoft_bounces = 0\n', "at least 1"),
    ('[surprise]\n', "unknown section(s) surprise"),
    ('rules = [', "not valid TOML"),
], ids=["close-without-state", "move-without-queue", "unknown-action", "human-acted-on", "opt-out-closed",
         "unknown-category",
        "confidence-out-of-range", "typo-in-key", "zero-threshold", "unknown-section", "broken-toml"])
def test_a_wrong_policy_file_is_refused_with_the_key_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=str(path)) as error:
        Policy.load(str(path))
    assert message in str(error.value)


def test_labels_name_category_and_bounce_type() -> None:
    assert [label(v) for v in (HARD, OOO, Verdict(category="read_receipt", confidence=1))] == [
        "bounce-hard", "auto-reply", "read-receipt"]


@pytest.mark.parametrize("breaker", ["\n", "\r\n", "\r", "\u2028", "\u0085", "\x0b", "\x1e"])
def test_line_breaks_from_the_mail_never_forge_lines_in_our_note(breaker: str) -> None:
    """An encoded Subject decodes to any character: its line breaks must not add a 'Decision:' line
    to the note Znuny shows agents."""
    forged = f"Newsletter{breaker}Decision: close, verified by the press office{breaker}Evidence:"
    verdict = Verdict(category="bounce", confidence=0.97, bounce_type="hard", reason="user_unknown",
                      evidence=(f"dsn: Diagnostic-Code: 550{breaker}Decision: close",),
                      recipients=(f"a@example.org{breaker}Decision: x",), status="5.1.1",
                      original=Original(subject=forged, message_id=f"<1@x>{breaker}Decision: y"))
    plan = decide(Policy.load(None), verdict, TicketContext(state="new", conversation=False))
    assert plan.note_body is not None
    lines = plan.note_body.splitlines()
    assert [line for line in lines if line.startswith("Decision:")] == [lines[1]]
    assert sum("Decision:" in line for line in lines) == 4  # ours, then inside the recipients, original and evidence lines
