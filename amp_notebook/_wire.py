"""How one endpoint speaks: the request body, its size, its content type, and how to read an answer.

The upload loop (:class:`._client.Uploader`) is the same for every endpoint
(design.md, "One loop for every endpoint"); what differs between HTTP V2 / Batch
(a JSON body) and Identify / Group Identify (a form body) is a :class:`Wire`, a
frozen value the loop asks for:

- ``envelope(api_key, options)``: the bytes of a body around its payloads (the
  body of an empty batch), so that limits are checked on exact numbers;
- ``separator_bytes``: the bytes between two payloads in the body (``,`` in
  JSON, ``%2C`` in a form);
- ``body(batch, api_key, options)``: the exact request body;
- ``content_type``; ``read(status, body, headers, batch, policy)``: the answer
  as an :class:`~._responses.Outcome`; ``throttle_pause_s``: how long a 429
  pauses a device or user; ``resend_note``: what resending a failed row does.

The Scheduler counts one byte per separator (it was written for JSON). A wire
whose separator is longer tells the Scheduler a larger envelope instead
(:meth:`Wire.scheduler_envelope`): ``(separator_bytes - 1) * (max_events - 1)``
more, the most the extra separator bytes of any batch of at most
``max_events`` payloads can add. So every body stays under the limits with no
change to the Scheduler, at the cost of that reserve (2,046 bytes of a 1 MB
form body of 1,024 identifications, 0.2 %). Pure: no IO, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._batching import Batch, envelope_size
from ._config import Limits
from ._responses import BatchView, Outcome, Rejection, interpret
from ._retry import RetryPolicy

__all__ = ["JSON_EVENTS", "Wire"]


@dataclass(frozen=True)
class Wire:
    """One endpoint's body format and answer reading (see the module docstring).

    The base class is the JSON event body of HTTP V2 and Batch (reference,
    "Request body"): exactly the bytes the loop sent before this seam existed.
    """

    name: str = "json events"
    content_type: str = "application/json"
    separator_bytes: int = 1
    # Reference, "Responses": "pause the throttled devices/users for 30 s".
    throttle_pause_s: float = 30.0
    resend_note: str = "safe to resend: insert_ids deduplicate"
    unit: str = "events"  # what a payload is, in progress text
    payload: str = "event"  # one of them, in a row's reason and message

    def envelope(self, api_key: str, options: Mapping[str, object] | None) -> int:
        """Bytes of the body around the payloads. Only the key's length is used."""
        return envelope_size(api_key, options)

    def body(self, batch: Batch, api_key: str, options: Mapping[str, object] | None) -> bytes:
        """The exact request body (the only place the key goes)."""
        return batch.body(api_key, options)

    def read(
        self,
        status: int | None,
        body: bytes | None,
        headers: Mapping[str, str],
        batch: BatchView,
        policy: RetryPolicy,
    ) -> Outcome:
        """What the answer means for each payload of ``batch``."""
        return interpret(status, body, headers, batch, policy=policy)

    def unanswered(self, batch: BatchView) -> tuple[Rejection, ...]:
        """Rows of a request left without an answer when the upload stopped that must not be
        resent as they are (each with its reason). Events: none, insert_ids make resending safe."""
        return ()

    def scheduler_envelope(self, api_key: str, options: Mapping[str, object] | None, limits: Limits) -> int:
        """The envelope to give the Scheduler, which counts one byte per separator.

        ``body = envelope + sum(payloads) + separator_bytes * (n - 1)`` and the
        Scheduler keeps ``envelope' + sum(payloads) + (n - 1)`` within the body
        limit, with ``n <= max_events``; the reserve covers the difference.
        """
        reserve = (self.separator_bytes - 1) * max(0, limits.max_events - 1)
        return self.envelope(api_key, options) + reserve

    def too_large(self, nbytes: int, limits: Limits) -> tuple[str, str]:
        """The (reason, message) of a payload over the body limit on its own: rejected, by the
        sending loop and by a dry run alike. Reference, "Responses": Amplitude answers a body
        too large with 413 and a client splits the batch; one payload cannot be split, so it
        can never be accepted as it is (as a 413 for one event: ``_responses``, rejected)."""
        return (f"{self.payload}_too_large",
                f"the {self.payload} alone is {nbytes:,} bytes, over the {limits.max_body_bytes:,}-byte request limit")

    def default_retry(self) -> RetryPolicy:
        """The retry policy when none is given: the endpoint's documented 429 pause."""
        return RetryPolicy(throttle_pause_s=self.throttle_pause_s)


JSON_EVENTS = Wire()
