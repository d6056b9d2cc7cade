"""The one vocabulary: derived sets stay in step, and every code the pages show has words."""
from __future__ import annotations

import pytest

from bouncer import vocab
from bouncer.web.labels import LABELS


def test_kinds_and_rule_keys_follow_from_the_categories() -> None:
    assert vocab.KINDS == ("hard", "soft", "auto_reply", "read_receipt", "feedback_report", "unsubscribe", "human")
    assert vocab.RULE_KEYS == ("bounce_hard", "bounce_soft", "auto_reply", "read_receipt", "feedback_report",
                               "unsubscribe", "human")
    assert [vocab.kind("bounce", t) for t in ("hard", "soft", None)] == ["hard", "soft", "soft"]
    assert vocab.rule_key("bounce", None) == "bounce_soft" and vocab.rule_key("auto_reply", None) == "auto_reply"
    assert vocab.MACHINE_CATEGORIES == set(vocab.CATEGORIES) - {"human", "unsubscribe"}


@pytest.mark.parametrize("group", sorted(vocab.LABELLED))
def test_every_code_the_pages_show_has_words_and_no_stale_ones(group: str) -> None:
    assert set(LABELS[group]) == set(vocab.LABELLED[group])


def test_sql_helpers_spell_the_codes() -> None:
    assert vocab.sql_list(("a", "b")) == "('a', 'b')"
    assert vocab.sql_any("state", ("pending", "running")) == "(state = 'pending' OR state = 'running')"
    with pytest.raises(ValueError, match="source='cli': must be one of webhook, sweep"):
        vocab.check("cli", vocab.EVENT_SOURCES, "source")
