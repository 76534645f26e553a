"""``df.amplitude``: the DataFrame accessor.

One-line methods that delegate to module functions taking the frame. The
accessor keeps the frame and nothing else (pandas 3 builds a new accessor on
every access) and never mutates it (design.md, principle 11).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import _api
from ._config import hide_key

if TYPE_CHECKING:  # pragma: no cover
    from pandas.io.formats.style import Styler

    from ._mapper import MapperUI
    from ._report import ValidationReport
    from ._result import UploadResult


@pd.api.extensions.register_dataframe_accessor("amplitude")
class AmplitudeAccessor:
    """Validate and upload this frame's rows as Amplitude events.

    >>> report = df.amplitude.validate()            # doctest: +SKIP
    >>> result = df.amplitude.upload(api_key=...)   # doctest: +SKIP
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
        from . import _mapper

        return _mapper.mapper(self._frame, mapping, **options)

    def upload(self, api_key: Any = None, mapping: Mapping[str, object] | None = None, **options: Any) -> UploadResult:
        api_key = hide_key(api_key)
        return _api.upload(self._frame, api_key, mapping, **options)

    async def upload_async(
        self, api_key: Any = None, mapping: Mapping[str, object] | None = None, **options: Any
    ) -> UploadResult:
        api_key = hide_key(api_key)
        return await _api.upload_async(self._frame, api_key, mapping, **options)

    upload.__doc__ = _api.upload.__doc__
    upload_async.__doc__ = _api.upload_async.__doc__
