"""The Identify and Group Identify functions behind the accessor: each takes the frame first.

httpx and the upload loop are imported on first use, so the pure core imports
without them (as ``_api`` does for events). Options are documented once, on
:func:`identify`.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable, Iterator, Mapping
from typing import Any

import pandas as pd

from ._config import hide_key
from ._identify_encoding import iter_identifications
from ._identify_mapping import Kind, plan_identify
from ._identify_validation import validate_identify as _validate
from ._jupyter.progress import widget_sink
from ._options import IdentifyOptions, takes
from ._report import ValidationReport
from ._result import UploadResult

__all__ = [
    "group_identify",
    "group_identify_async",
    "identify",
    "identify_async",
    "identify_rows",
    "to_identifications",
    "validate_identify",
]


@takes(IdentifyOptions)
def identify(df: pd.DataFrame, api_key: Any = None, mapping: Mapping[str, object] | None = None,
             **keywords: Any) -> UploadResult:
    """Set user properties from ``df`` (one row per user or device) with Amplitude's Identify API.

    Ids (``user_id``, ``device_id``) and Amplitude's fields (``platform``, ``country``, ...)
    match by column name; every other column is a property named as the column (or
    ``mapping={"user_properties": [...]}`` picks them). A missing cell leaves the property
    unchanged. ``options=``: an ``IdentifyOptions`` value holding the options below (the
    keywords given beside it win).

    add, append and prepend are not idempotent (Amplitude applies every copy it gets, and
    Identify has no insert_id), so after an answer that leaves open whether a request was
    applied (no answer, a dropped connection, a 5xx other than 503) such rows fail with
    reason ``ambiguous_add`` rather than being sent twice; ``resend_ambiguous=True``
    resends them (they may then be applied twice).

    Rows go in frame order: two rows for one user are applied in that order (the later
    wins; validation warns). Returns an UploadResult: a status and reason per row.
    {options}
    """
    from ._runner import run_sync

    api_key = hide_key(api_key)  # before anything can raise: see hide_key
    return run_sync(identify_rows(df, api_key, mapping, keywords))


@takes(IdentifyOptions)
async def identify_async(df: pd.DataFrame, api_key: Any = None, mapping: Mapping[str, object] | None = None,
                         **keywords: Any) -> UploadResult:
    """``await amp_notebook.identify_async(df, ...)``: :func:`identify` from async code."""
    api_key = hide_key(api_key)  # before anything can raise: see hide_key
    return await identify_rows(df, api_key, mapping, keywords, "identify_async")


_GROUP = ("kind", "group_type", "group_value")


@takes(IdentifyOptions, omit=("kind",))
def group_identify(df: pd.DataFrame, group_type: object = None, group_value: object = None, api_key: Any = None,
                   mapping: Mapping[str, object] | None = None, **keywords: Any) -> UploadResult:
    """Set group properties from ``df`` (one row per group) with Amplitude's Group Identify API.

    ``group_type``: the type of every row's group (a value, e.g. ``"company"``);
    ``group_value``: the column holding each row's group (e.g. ``"org_id"``). Every other
    column is a group property. The other options are :func:`identify`'s.
    {options}
    """
    from ._runner import run_sync

    api_key = hide_key(api_key)  # before anything can raise: see hide_key
    return run_sync(identify_rows(df, api_key, mapping, as_groups(keywords, group_type, group_value),
                                  "group_identify"))


@takes(IdentifyOptions, omit=("kind",))
async def group_identify_async(df: pd.DataFrame, group_type: object = None, group_value: object = None,
                               api_key: Any = None, mapping: Mapping[str, object] | None = None,
                               **keywords: Any) -> UploadResult:
    """:func:`group_identify` from async code."""
    api_key = hide_key(api_key)  # before anything can raise: see hide_key
    return await identify_rows(df, api_key, mapping, as_groups(keywords, group_type, group_value),
                               "group_identify_async")


def as_groups(keywords: dict[str, Any], group_type: object, group_value: object) -> dict[str, Any]:
    """Group Identify's keywords: ``kind="group"`` and the group's type and column (when given)."""
    extra = [name for name in _GROUP if name in keywords]
    if extra:
        raise TypeError(f"group_identify() got an unexpected keyword argument {extra[0]!r}")
    given = {k: v for k, v in (("group_type", group_type), ("group_value", group_value)) if v is not None}
    return {**keywords, "kind": "group", **given}


def identify_rows(df: pd.DataFrame, api_key: Any, mapping: Mapping[str, object] | None,
                  keywords: dict[str, Any], where: str = "identify") -> Coroutine[Any, Any, UploadResult]:
    """The identify every way in awaits: the options checked (``where``'s name in the error),
    the key and the ``%amplitude`` session read once (``api_key`` already hidden)."""
    from . import _identify_upload
    from ._send import Seams

    seams = Seams.pop_from(keywords, widget=widget_sink)
    options = IdentifyOptions.from_keywords(where, keywords, options=keywords.pop("options", None))
    return _identify_upload.identify_frame(df, mapping, options, _identify_upload.target(api_key, options), seams)


def validate_identify(df: pd.DataFrame, mapping: Mapping[str, object] | None = None, *, kind: Kind = "user",
                      group_type: object = None, group_value: object = None, operation: str = "set",
                      operations: Mapping[str, str] | None = None,
                      unset_missing: bool | Iterable[str] = False) -> ValidationReport:
    """Check every row as an identification (``kind="group"``: a group identify); nothing is sent."""
    m = plan_identify(df, kind, mapping, group_type=group_type, group_value=group_value, operation=operation,
                      operations=operations, unset_missing=unset_missing)
    return _validate(df, m)


def to_identifications(df: pd.DataFrame, mapping: Mapping[str, object] | None = None, *, kind: Kind = "user",
                       group_type: object = None, group_value: object = None, operation: str = "set",
                       operations: Mapping[str, str] | None = None,
                       unset_missing: bool | Iterable[str] = False) -> Iterator[dict[str, Any]]:
    """The identification objects exactly as they would be sent, lazily, in frame order."""
    m = plan_identify(df, kind, mapping, group_type=group_type, group_value=group_value, operation=operation,
                      operations=operations, unset_missing=unset_missing)
    for _, objects in iter_identifications(df, m):
        yield from objects
