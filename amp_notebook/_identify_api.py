"""The Identify and Group Identify functions behind the accessor: each takes the frame first.

httpx and the upload loop are imported on first use, so the pure core imports
without them (as ``_api`` does for events). Options are documented once, on
:func:`identify`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pandas as pd

from ._config import hide_key
from ._identify_encoding import iter_identifications
from ._identify_mapping import Kind, plan_identify
from ._identify_validation import validate_identify as _validate
from ._report import ValidationReport
from ._result import UploadResult

__all__ = [
    "group_identify",
    "group_identify_async",
    "identify",
    "identify_async",
    "to_identifications",
    "validate_identify",
]


def identify(df: pd.DataFrame, api_key: Any = None, mapping: Mapping[str, object] | None = None,
             **options: Any) -> UploadResult:
    """Set user properties from ``df`` (one row per user or device) with Amplitude's Identify API.

    Ids (``user_id``, ``device_id``) and Amplitude's fields (``platform``, ``country``, ...)
    match by column name; every other column is a property named as the column (or
    ``mapping={"user_properties": [...]}`` picks them). Options:

    - ``operation="set"``: the operation of every property; ``operations={"logins": "add",
      "first_seen": "setOnce", "tags": "append"}`` per property (set, setOnce, add, append,
      prepend, preInsert, postInsert, remove, unset).
    - a missing cell leaves the property unchanged; ``unset_missing=True`` (or a list of
      property names) removes a ``set`` property whose cell is missing.
    - ``dry_run``, ``on_invalid`` ("skip", "raise", "send"), ``progress``, ``region``,
      ``endpoint``, ``concurrency``, ``pacing``, ``retry``, ``timeout``, as for ``upload``;
      ``max_per_request`` sends smaller requests than the limits allow (1024, under 1 MB).
    - ``resend_ambiguous=False``: add, append and prepend are not idempotent (Amplitude
      applies every copy it gets, and Identify has no insert_id), so after an answer that
      leaves open whether a request was applied (no answer, a dropped connection, a 5xx
      other than 503) such rows fail with reason ``ambiguous_add`` rather than being sent
      twice. True resends them (they may then be applied twice).

    Rows go in frame order: two rows for one user are applied in that order (the later
    wins; validation warns). Returns an UploadResult: a status and reason per row.
    """
    from ._identify_upload import identify_async as _identify
    from ._runner import run_sync

    api_key = hide_key(api_key)
    return run_sync(_identify(df, api_key, mapping, **options))


async def identify_async(df: pd.DataFrame, api_key: Any = None, mapping: Mapping[str, object] | None = None,
                         **options: Any) -> UploadResult:
    """``await amp_notebook.identify_async(df, ...)``: :func:`identify` from async code."""
    from ._identify_upload import identify_async as _identify

    api_key = hide_key(api_key)
    return await _identify(df, api_key, mapping, **options)


def group_identify(df: pd.DataFrame, group_type: object = None, group_value: object = None, api_key: Any = None,
                   mapping: Mapping[str, object] | None = None, **options: Any) -> UploadResult:
    """Set group properties from ``df`` (one row per group) with Amplitude's Group Identify API.

    ``group_type``: the type of every row's group (a value, e.g. ``"company"``);
    ``group_value``: the column holding each row's group (e.g. ``"org_id"``). Every other
    column is a group property. The other options are :func:`identify`'s.
    """
    api_key = hide_key(api_key)
    return identify(df, api_key, mapping, kind="group", group_type=group_type, group_value=group_value, **options)


async def group_identify_async(df: pd.DataFrame, group_type: object = None, group_value: object = None,
                               api_key: Any = None, mapping: Mapping[str, object] | None = None,
                               **options: Any) -> UploadResult:
    """:func:`group_identify` from async code."""
    api_key = hide_key(api_key)
    return await identify_async(df, api_key, mapping, kind="group", group_type=group_type,
                                group_value=group_value, **options)


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
