"""``df.amplitude``: the DataFrame accessor.

One-line methods that delegate to module functions taking the frame. The
accessor keeps the frame and nothing else (pandas 3 builds a new accessor on
every access) and never mutates it (design.md, principle 11).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import _api, _identify_api
from ._config import hide_key
from ._options import IdentifyOptions, UploadOptions, takes

if TYPE_CHECKING:  # pragma: no cover
    from pandas.io.formats.style import Styler

    from ._jupyter.mapper import MapperUI
    from ._report import ValidationReport
    from ._result import UploadResult

__all__ = ["AmplitudeAccessor"]


@pd.api.extensions.register_dataframe_accessor("amplitude")
class AmplitudeAccessor:
    """Validate and upload this frame's rows as Amplitude events, or as user/group properties.

    >>> report = df.amplitude.validate()            # doctest: +SKIP
    >>> result = df.amplitude.upload(api_key=...)   # doctest: +SKIP
    >>> result = df.amplitude.identify(operations={"logins": "add"})   # doctest: +SKIP
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def validate(self, mapping: Mapping[str, object] | None = None, **options: Any) -> ValidationReport:
        """Check every row against Amplitude's rules; returns a ValidationReport."""
        return _api.validate(self._frame, mapping, **options)

    def style(self, mapping: Mapping[str, object] | None = None, max_rows: int = 100, **options: Any) -> Styler:
        """The failing rows with their invalid cells highlighted and the reasons shown."""
        return _api.validate(self._frame, mapping, **options).style(max_rows=max_rows)

    def to_events(self, mapping: Mapping[str, object] | None = None, **options: Any) -> Iterator[dict[str, Any]]:
        """The JSON-ready event dicts, lazily, exactly as they would be sent."""
        return _api.to_events(self._frame, mapping, **options)

    def preview(self, n: int = 5, mapping: Mapping[str, object] | None = None, **options: Any) -> _api.EventPreview:
        """The first ``n`` events as pretty JSON."""
        return _api.preview(self._frame, n, mapping, **options)

    def mapping(self, mapping: Mapping[str, object] | None = None) -> dict[str, object]:
        """The mapping that would be used (automatic unless given), as a dict."""
        return _api.resolved_mapping(self._frame, mapping)

    def mapper(self, mapping: Mapping[str, object] | None = None, **options: Any) -> MapperUI:
        """An interactive mapping and validation widget (dropdowns per event key, live counts)."""
        from ._jupyter import mapper as _mapper

        return _mapper.mapper(self._frame, mapping, **options)

    @takes(UploadOptions)
    def upload(self, api_key: Any = None, mapping: Mapping[str, object] | None = None,
               **keywords: Any) -> UploadResult:
        from ._runner import run_sync

        api_key = hide_key(api_key)  # before anything can raise: see hide_key
        return run_sync(_api.upload_events(self._frame, api_key, mapping, keywords))

    @takes(UploadOptions)
    async def upload_async(self, api_key: Any = None, mapping: Mapping[str, object] | None = None,
                           **keywords: Any) -> UploadResult:
        api_key = hide_key(api_key)  # before anything can raise: see hide_key
        return await _api.upload_events(self._frame, api_key, mapping, keywords, "upload_async")

    upload.__doc__ = _api.upload.__doc__
    upload_async.__doc__ = _api.upload_async.__doc__

    # -- user and group properties (Identify, Group Identify) ---------------------------------

    @takes(IdentifyOptions)
    def identify(self, api_key: Any = None, mapping: Mapping[str, object] | None = None,
                 **keywords: Any) -> UploadResult:
        """Set user properties, one row per user (see amp_notebook.identify for the options)."""
        from ._runner import run_sync

        api_key = hide_key(api_key)  # before anything can raise: see hide_key
        return run_sync(_identify_api.identify_rows(self._frame, api_key, mapping, keywords))

    @takes(IdentifyOptions)
    async def identify_async(self, api_key: Any = None, mapping: Mapping[str, object] | None = None,
                             **keywords: Any) -> UploadResult:
        """``await df.amplitude.identify_async(...)``: identify from async code."""
        api_key = hide_key(api_key)  # before anything can raise: see hide_key
        return await _identify_api.identify_rows(self._frame, api_key, mapping, keywords, "identify_async")

    @takes(IdentifyOptions, omit=("kind",))
    def group_identify(
        self, group_type: object = None, group_value: object = None, api_key: Any = None,
        mapping: Mapping[str, object] | None = None, **keywords: Any,
    ) -> UploadResult:
        """Set group properties, one row per group: ``group_type="company", group_value="org_id"``."""
        from ._runner import run_sync

        api_key = hide_key(api_key)  # before anything can raise: see hide_key
        keywords = _identify_api.as_groups(keywords, group_type, group_value)
        return run_sync(_identify_api.identify_rows(self._frame, api_key, mapping, keywords, "group_identify"))

    @takes(IdentifyOptions, omit=("kind",))
    async def group_identify_async(
        self, group_type: object = None, group_value: object = None, api_key: Any = None,
        mapping: Mapping[str, object] | None = None, **keywords: Any,
    ) -> UploadResult:
        """``await df.amplitude.group_identify_async(...)``."""
        api_key = hide_key(api_key)  # before anything can raise: see hide_key
        keywords = _identify_api.as_groups(keywords, group_type, group_value)
        return await _identify_api.identify_rows(self._frame, api_key, mapping, keywords, "group_identify_async")

    def validate_identify(self, mapping: Mapping[str, object] | None = None, **options: Any) -> ValidationReport:
        """Check the rows as identifications (``kind="group", group_type=..., group_value=...`` for groups)."""
        return _identify_api.validate_identify(self._frame, mapping, **options)

    def to_identifications(self, mapping: Mapping[str, object] | None = None, **options: Any) -> Iterator[dict[str, Any]]:
        """The identification objects exactly as they would be sent, lazily."""
        return _identify_api.to_identifications(self._frame, mapping, **options)
