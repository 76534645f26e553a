"""Columns -> identifications: ids, Amplitude's fields, properties and their operations."""

from __future__ import annotations

import pandas as pd
import pytest

from amp_notebook import ConfigurationError, MappingError, const
from amp_notebook._identify_mapping import plan_identify, resolve_identify


def cols(*names: str) -> pd.Index:
    return pd.Index(list(names))


def test_ids_and_fields_match_by_name_every_other_column_is_a_set_property() -> None:
    m = resolve_identify(cols("userId", "anonymous_id", "Platform", "plan", "user_properties.seats"), "user")
    assert dict(m.ids) == {"user_id": "userId", "device_id": "anonymous_id"}
    assert dict(m.fields) == {"platform": "Platform"}
    assert [(p.name, p.source, p.operation) for p in m.properties] == [
        ("plan", "plan", "$set"), ("seats", "user_properties.seats", "$set")]


def test_operations_per_property_with_or_without_dollar() -> None:
    m = resolve_identify(cols("uid", "plan", "logins", "first_seen", "tags", "old"), "user",
                         operations={"logins": "add", "first_seen": "setOnce", "tags": "$append", "old": "unset"})
    assert m.operations() == {"plan": "set", "logins": "add", "first_seen": "setOnce", "tags": "append", "old": "unset"}
    every = resolve_identify(cols("uid", "a", "b"), "user", operation="postInsert")
    assert {p.operation for p in every.properties} == {"$postInsert"}


def test_operations_may_name_the_column() -> None:
    m = resolve_identify(cols("uid", "n"), "user", {"user_properties": {"logins": "n"}}, operations={"n": "add"})
    assert m.operations() == {"logins": "add"}


@pytest.mark.parametrize(("ops", "text"), [
    ({"plan": "increment"}, "unknown operation 'increment'"),
    ({"plan": "appnd"}, "did you mean 'append'"),
    ({"plan": "clearAll"}, "clearAll removes every property"),
])
def test_bad_operations_are_refused_clearly(ops: dict[str, str], text: str) -> None:
    with pytest.raises(ConfigurationError, match=text):
        resolve_identify(cols("uid", "plan"), "user", operations=ops)


def test_operations_naming_no_property() -> None:
    with pytest.raises(MappingError, match=r"'plans', which is not a property.*did you mean 'plan'"):
        resolve_identify(cols("uid", "plan"), "user", operations={"plans": "add"})


def test_explicit_properties_replace_the_automatic_ones() -> None:
    m = resolve_identify(cols("uid", "plan", "seats", "noise"), "user",
                         {"user_properties": ["plan", "seats"], "user_properties.tier": const("gold")})
    assert [p.name for p in m.properties] == ["plan", "seats", "tier"]
    m = resolve_identify(cols("uid", "plan", "noise"), "user", {"user_properties": {"Plan": "plan"}})
    assert [(p.name, p.source) for p in m.properties] == [("Plan", "plan")]


def test_a_column_is_left_out_with_none() -> None:
    m = resolve_identify(cols("uid", "plan", "Unnamed: 0"), "user", {"Unnamed: 0": None})
    assert [p.name for p in m.properties] == ["plan"]
    m = resolve_identify(cols("uid", "platform"), "user", {"platform": None})
    assert m.fields == {} and m.properties == ()  # not sent at all


def test_one_property_from_two_columns_is_refused() -> None:
    with pytest.raises(MappingError, match="two columns give the property 'plan'"):
        resolve_identify(cols("uid", "plan", "user_properties.plan"), "user")


def test_unknown_mapping_key_and_missing_column() -> None:
    with pytest.raises(MappingError, match=r"unknown key 'userid'.*did you mean 'user_id'"):
        resolve_identify(cols("uid", "plan"), "user", {"userid": "uid"})
    with pytest.raises(MappingError, match=r"there is no column 'user'.*did you mean 'users'"):
        resolve_identify(cols("users", "plan"), "user", {"user_id": "user"})


def test_unset_missing_is_for_set_properties() -> None:
    m = resolve_identify(cols("uid", "plan", "n"), "user", operations={"n": "add"}, unset_missing=True)
    assert {p.name: p.unset_missing for p in m.properties} == {"plan": True, "n": False}
    m = resolve_identify(cols("uid", "plan", "tier"), "user", unset_missing=["tier"])
    assert {p.name: p.unset_missing for p in m.properties} == {"plan": False, "tier": True}
    with pytest.raises(MappingError, match="unset_missing names"):
        resolve_identify(cols("uid", "plan"), "user", unset_missing=["nope"])


def test_group_type_is_a_value_group_value_a_column() -> None:
    df = pd.DataFrame({"org_id": ["o-1"], "company": ["Acme"], "seats": [3]})
    m = plan_identify(df, "group", group_type="company", group_value="org_id")
    assert m.ids == {"group_type": const("company"), "group_value": "org_id"}
    assert [p.name for p in m.properties] == ["company", "seats"]  # "company" the column is a property
    with pytest.raises(MappingError, match="given twice"):
        plan_identify(df, "group", {"group_value": "org_id"}, group_type="company", group_value="org_id")
    with pytest.raises(ConfigurationError, match="group_identify"):
        plan_identify(df, "user", group_type="company")
