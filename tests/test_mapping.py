"""resolve_mapping: columns -> event keys (written from the contract and the reference)."""

from __future__ import annotations

import pandas as pd
import pytest

from amp_notebook import MappingError
from amp_notebook._keys import EVENT_KEYS
from amp_notebook._mapping import Const, Field, ResolvedMapping, const, resolve_mapping


def cols(*names: object) -> pd.Index:
    return pd.Index(list(names), dtype=object)


def test_frame_named_as_amplitude_needs_no_mapping() -> None:
    rm = resolve_mapping(cols("user_id", "device_id", "event_type", "time", "other"))
    assert rm.get("user_id") == Field("user_id", None, "user_id")
    assert rm.get("time") == Field("time", None, "time")
    assert rm.columns() == ["user_id", "device_id", "event_type", "time"]
    assert rm.get("event_properties") is None  # "other" is not sent


@pytest.mark.parametrize("key", list(EVENT_KEYS))
def test_every_key_auto_maps_by_its_exact_name(key: str) -> None:
    rm = resolve_mapping(cols(key))
    assert rm.get(key) == Field(key, None, key)


@pytest.mark.parametrize("key", list(EVENT_KEYS))
def test_every_key_is_explicitly_mappable(key: str) -> None:
    rm = resolve_mapping(cols("c"), {key: "c"})
    assert rm.get(key) == Field(key, None, "c")


@pytest.mark.parametrize(
    ("column", "key"),
    [
        ("userId", "user_id"),
        ("User ID", "user_id"),
        ("user-id", "user_id"),
        ("timestamp", "time"),
        ("event_name", "event_type"),
        ("insertId", "insert_id"),
        ("product_id", "productId"),
        ("latitude", "location_lat"),
        ("skip_user_properties_sync", "$skip_user_properties_sync"),
    ],
)
def test_aliases(column: str, key: str) -> None:
    assert resolve_mapping(cols(column)).get(key) == Field(key, None, column)


def test_dotted_columns_go_into_nested_objects() -> None:
    rm = resolve_mapping(
        cols(
            "event_type",
            "event_properties.price",
            "event_properties.a.b",
            "user_properties.plan",
            "groups.company",
            "plan.branch",
        )
    )
    assert rm.nested("event_properties") == (
        Field("event_properties", "price", "event_properties.price"),
        Field("event_properties", "a.b", "event_properties.a.b"),
    )
    assert rm.nested("user_properties") == (Field("user_properties", "plan", "user_properties.plan"),)
    assert rm.nested("groups") == (Field("groups", "company", "groups.company"),)
    assert rm.nested("plan") == (Field("plan", "branch", "plan.branch"),)
    assert Field("event_properties", "price", "x").path == "event_properties.price"


def test_explicit_mapping_lists_dicts_and_consts() -> None:
    rm = resolve_mapping(
        cols("uid", "kind", "amount", "sku", "company", "br"),
        {
            "user_id": "uid",
            "event_type": const("Purchase"),
            "event_properties": ["amount", "sku"],
            "user_properties": {"tier": "kind", "source": const("import")},
            "groups": {"company": "company"},
            "plan": {"branch": "br", "version": const("1")},
        },
    )
    assert rm.get("user_id") == Field("user_id", None, "uid")
    assert rm.get("event_type") == Field("event_type", None, Const("Purchase"))
    assert [f.name for f in rm.nested("event_properties")] == ["amount", "sku"]
    assert rm.nested("user_properties") == (
        Field("user_properties", "tier", "kind"),
        Field("user_properties", "source", Const("import")),
    )
    assert rm.nested("plan")[1] == Field("plan", "version", Const("1"))
    assert rm.columns() == ["uid", "amount", "sku", "kind", "company", "br"]


def test_a_string_is_a_column_never_a_constant() -> None:
    with pytest.raises(MappingError) as err:
        resolve_mapping(cols("user_id"), {"event_type": "Purchase"})
    assert err.value.key == "event_type"
    assert err.value.column == "Purchase"


def test_constants_argument_holds_values() -> None:
    rm = resolve_mapping(
        cols("user_id"),
        constants={"event_type": "Purchase", "event_properties": {"source": "import"}, "platform": const("Web")},
    )
    assert rm.get("event_type") == Field("event_type", None, Const("Purchase"))
    assert rm.get("platform") == Field("platform", None, Const("Web"))
    assert rm.nested("event_properties") == (Field("event_properties", "source", Const("import")),)


def test_explicit_extends_automatic_and_overrides_it() -> None:
    rm = resolve_mapping(
        cols("user_id", "userId", "event_type", "ts", "color"),
        {"user_id": "userId", "event_properties": ["color"]},
    )
    # user_id named explicitly: no ambiguity error, the explicit column wins.
    assert rm.get("user_id") == Field("user_id", None, "userId")
    assert rm.get("event_type") == Field("event_type", None, "event_type")
    assert rm.get("time") == Field("time", None, "ts")
    assert rm.nested("event_properties") == (Field("event_properties", "color", "color"),)


def test_a_column_used_explicitly_is_not_auto_matched_again() -> None:
    rm = resolve_mapping(cols("plan", "event_type"), {"event_properties": ["plan"]})
    assert rm.get("plan") is None
    assert rm.nested("event_properties") == (Field("event_properties", "plan", "plan"),)


def test_none_drops_an_automatic_key() -> None:
    rm = resolve_mapping(cols("user_id", "time", "event_properties.x"), {"time": None, "event_properties": None})
    assert rm.get("time") is None
    assert rm.nested("event_properties") == ()


def test_non_string_labels_work_when_named() -> None:
    rm = resolve_mapping(pd.Index([0, 1, 2]), {"user_id": 0, "event_properties": [1], "event_type": const("E")})
    assert rm.get("user_id") == Field("user_id", None, 0)
    assert rm.nested("event_properties") == (Field("event_properties", "1", 1),)
    assert resolve_mapping(pd.Index([0, 1])).fields == ()


def test_whole_object_column_and_dotted_keys() -> None:
    rm = resolve_mapping(cols("props", "extra"), {"event_properties": "props", "event_properties.extra": "extra"})
    assert rm.get("event_properties") == Field("event_properties", None, "props")
    assert rm.nested("event_properties") == (Field("event_properties", "extra", "extra"),)


def test_to_dict_round_trips() -> None:
    mapping = {
        "user_id": "uid",
        "event_type": const("Purchase"),
        "event_properties": {"amount": "amount"},
        "groups": {"company": "co"},
    }
    rm = resolve_mapping(cols("uid", "amount", "co"), mapping)
    assert rm.to_dict() == mapping
    assert "const('Purchase')" in repr(rm.to_dict())
    assert resolve_mapping(cols("uid", "amount", "co"), rm.to_dict()) == rm
    assert isinstance(rm, ResolvedMapping)


# -- errors -----------------------------------------------------------------------------


def test_unknown_key_suggests_close_match() -> None:
    with pytest.raises(MappingError, match=r"did you mean 'user_id'\?") as err:
        resolve_mapping(cols("a"), {"user_idd": "a"})
    assert err.value.key == "user_idd"
    assert err.value.suggestion == "user_id"
    with pytest.raises(MappingError, match=r"did you mean 'user_id'\?"):
        resolve_mapping(cols("a"), {"userId": "a"})  # an alias is a column name, not a key
    with pytest.raises(MappingError, match=r"did you mean 'event_properties.x'\?"):
        resolve_mapping(cols("a"), {"event_propertes.x": "a"})


def test_missing_column_suggests_close_column() -> None:
    with pytest.raises(MappingError, match=r"did you mean 'userId'\?") as err:
        resolve_mapping(cols("userId", "event_type"), {"user_id": "user_ld"})
    assert err.value.key == "user_id"
    assert err.value.column == "user_ld"
    with pytest.raises(MappingError, match="no column 'nope'"):
        resolve_mapping(cols("a"), {"event_properties": ["a", "nope"]})
    with pytest.raises(MappingError):
        resolve_mapping(pd.Index([0, 1]), {"user_id": 2})


def test_two_columns_auto_matching_one_key() -> None:
    with pytest.raises(MappingError, match=r"did you mean 'user_id'\?") as err:
        resolve_mapping(cols("userId", "user_id", "event_type"))
    assert err.value.key == "user_id"
    assert "'userId'" in str(err.value)
    with pytest.raises(MappingError, match="'time'"):
        resolve_mapping(cols("ts", "timestamp"))


def test_duplicate_frame_columns_that_are_mapped() -> None:
    with pytest.raises(MappingError, match="several columns named 'a'"):
        resolve_mapping(cols("a", "a"), {"user_id": "a"})
    with pytest.raises(MappingError, match="user_id"):
        resolve_mapping(cols("user_id", "user_id"))
    # Duplicates that are not mapped are fine.
    assert resolve_mapping(cols("x", "x", "user_id")).columns() == ["user_id"]


def test_same_path_given_twice() -> None:
    with pytest.raises(MappingError, match="given twice"):
        resolve_mapping(cols("a", "b"), {"event_properties.x": "a", "event_properties": {"x": "b"}})
    with pytest.raises(MappingError, match="given twice"):
        resolve_mapping(cols("a"), {"event_type": "a"}, {"event_type": "Purchase"})
    with pytest.raises(MappingError, match="given twice"):
        resolve_mapping(cols("a"), {"event_properties": ["a", "a"]})


def test_multiindex_columns_are_refused() -> None:
    with pytest.raises(MappingError, match="MultiIndex"):
        resolve_mapping(pd.MultiIndex.from_tuples([("a", "b")]))


def test_plan_fields_are_checked() -> None:
    with pytest.raises(MappingError, match=r"did you mean 'branch'\?"):
        resolve_mapping(cols("x"), {"plan": {"brnch": "x"}})
    with pytest.raises(MappingError, match="plan"):
        resolve_mapping(cols("plan.name"))


def test_a_list_for_a_flat_key_is_refused() -> None:
    with pytest.raises(MappingError, match="user_id"):
        resolve_mapping(cols("a", "b"), {"user_id": ["a", "b"]})


def test_mapping_error_is_a_key_error_and_local() -> None:
    from amp_notebook import LocalError

    with pytest.raises(KeyError):
        resolve_mapping(cols("a"), {"nope": "a"})
    with pytest.raises(LocalError):
        resolve_mapping(cols("a"), {"nope": "a"})
