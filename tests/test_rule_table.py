"""The rules table drives the failures table: every message and severity comes from it
(``_rule_table.RULES``), and the checks hold no words or severities of their own."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest
from builders import matches_its_rule, template_pattern  # a message is its reason's template

import amp_notebook as amp
from amp_notebook import _identify_validation, _preflight, _time_text, _validation
from amp_notebook._rule_table import LIMITS, RULES, Origin, Reason, Rule, Severity


def _cases() -> list[tuple[Rule, str]]:
    return [(rule, case) for rule in RULES.values() for case in rule.messages]


def test_every_reason_has_a_rule_with_a_message_severity_and_origin():
    assert set(RULES) == set(Reason)
    for reason, rule in RULES.items():
        assert rule.reason is reason
        assert rule.messages, reason
        assert isinstance(rule.severity, Severity)
        assert isinstance(rule.origin, Origin)
        assert set(rule.severities) <= set(rule.messages), reason  # a severity for a case that exists


@pytest.mark.parametrize(("rule", "case"), _cases(), ids=[f"{r.reason.value}[{c}]" for r, c in _cases()])
def test_every_template_formats_with_its_fields(rule: Rule, case: str):
    fields = rule.fields(case)
    assert all(name.isidentifier() for name in fields), fields
    text = rule.message(case, **dict.fromkeys(fields, 1))
    assert "{" not in text.replace("{'", "").replace("{}", "") or "mapping={'" in text
    assert template_pattern(rule.messages[case]).fullmatch(text)


def test_a_field_too_many_or_too_few_is_an_error():
    rule = RULES[Reason.NOT_AN_INTEGER]
    assert rule.message(key="quantity") == (
        "quantity must be a whole number (Amplitude types it integer); round or fix it"
    )
    with pytest.raises(KeyError):
        rule.message(key="quantity", typo=1)
    with pytest.raises(KeyError):
        rule.message()


def test_limits_fill_their_fields():
    text = RULES[Reason.STRING_TOO_LONG].message(path="platform", n=2000)
    assert text == ("platform is 2,000 characters long; Amplitude allows at most 1,024 per string value: "
                    "shorten it")
    assert LIMITS["max_string"] == 1024
    assert "max_string" not in RULES[Reason.STRING_TOO_LONG].fields()


def test_an_option_that_changes_a_severity_is_in_the_table():
    """missing_time= names the case of time_missing, so the table says what it does."""
    rule = RULES[Reason.TIME_MISSING]
    assert _validation.MISSING_TIME == tuple(rule.messages) == ("error", "upload_time")
    assert rule.severity_of("error") is Severity.ERROR
    assert rule.severity_of("upload_time") is Severity.WARNING
    df = pd.DataFrame({"user_id": ["user-00001"], "event_type": ["a"], "time": [None]})
    for option, severity in (("error", "error"), ("upload_time", "warning")):
        failures = amp.validate(df, missing_time=option).failures
        assert failures[["reason", "severity"]].values.tolist() == [["time_missing", severity]]
        assert failures["message"].iloc[0] == rule.message(option)


def test_id_too_short_severity_depends_on_the_other_id():
    rule = RULES[Reason.ID_TOO_SHORT]
    assert {case: rule.severity_of(case).value for case in rule.messages} == {
        "": "error", "kept": "warning", "identify": "error", "identify kept": "warning",
    }


_CHECKS = (_validation, _identify_validation)
# Not message words but a value written out: a time beyond pandas' dates, in ms (_validation._iso).
_VALUES_IN_WORDS = {" ms since the epoch"}


def _source_tree(module: object) -> ast.Module:
    return ast.parse(Path(module.__file__).read_text())  # type: ignore[attr-defined]


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _raised(tree: ast.Module) -> set[int]:
    """Strings inside raise statements: configuration errors, not failures rows."""
    return {id(n) for r in ast.walk(tree) if isinstance(r, ast.Raise) for n in ast.walk(r)}


@pytest.mark.parametrize("module", [*_CHECKS, _time_text], ids=lambda m: m.__name__)
def test_the_checks_hold_no_message_words(module: object):
    """Words of a message (four or more in a row) live in the table only."""
    tree = _source_tree(module)
    skip = _docstrings(tree) | _raised(tree)
    wordy = [
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        and len(node.value.split()) >= 4
    ]
    assert [w for w in wordy if w not in _VALUES_IN_WORDS] == []


@pytest.mark.parametrize("module", [*_CHECKS, _preflight, _time_text], ids=lambda m: m.__name__)
def test_the_checks_decide_no_severity(module: object):
    """The failures table's severity is the table's (a case may change it there)."""
    tree = _source_tree(module)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "Severity" not in names | attrs
    assert not {"ERROR", "WARNING"} & attrs
    keywords = {k.arg for n in ast.walk(tree) if isinstance(n, ast.Call) for k in n.keywords}
    assert "severity" not in keywords


def test_every_reason_the_checks_name_has_a_rule():
    """Each Reason.X the checks raise is in the table (a KeyError otherwise, at run time)."""
    named = set()
    for module in (*_CHECKS, _preflight, _time_text):
        tree = _source_tree(module)
        named |= {n.attr for n in ast.walk(tree)
                  if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "Reason"}
    assert named
    assert {Reason[name] for name in named} <= set(RULES)


def test_failure_messages_come_from_the_table():
    """A frame breaking many rules at once: each row's message is its reason's template."""
    df = pd.DataFrame({
        "user_id": ["ab", "null", None, "user-00004"],
        "device_id": [None, "00000000-0000-0000-0000-000000000000", None, "device-0004"],
        "event_type": ["[Amplitude] Revenue", "session_start", None, "x" * 1030],
        "time": [1_700_000_000, -5, "03/04/2026 10:00", None],
        "price": ["1", 2.0, None, 3.0], "quantity": [1, 2.5, None, 2], "revenue": [1.0, 9.0, None, 1.0],
        "productId": [None, None, "sku", None], "location_lat": [100.0, None, None, None],
        "session_id": [-3, None, None, None], "plan.version": ["x" * 1030, None, None, None],
    })
    df.index = [0, 0, 1, 2]
    failures = amp.validate(df, now_ms=1_750_000_000_000).failures
    assert len(set(failures["reason"])) >= 15
    for reason, message in zip(failures["reason"], failures["message"], strict=True):
        assert matches_its_rule(reason, message), (reason, message)
