"""``pinlake produce``: emulate the original user-posting script.

One straight path: the source (:class:`pinlake.source.db.SourceReader`) → the draws and their
rows (:mod:`pinlake.produce.events`) → one destination: the topics bucket
(:mod:`pinlake.produce.bucket`, :class:`ProduceToBucket`) or the ingestion API over HTTP
(:mod:`pinlake.produce.http`, :class:`ProduceToApi`). Both serialise rows with
:mod:`pinlake.produce.payload`. Each destination has its own options class, so an option of one
cannot be given to the other.
"""

from __future__ import annotations

from pinlake.config import Settings
from pinlake.produce.options import Draws, ProduceResult, ProduceToApi, ProduceToBucket


def run_produce(settings: Settings, options: ProduceToBucket | ProduceToApi) -> ProduceResult:
    """Produce the drawn events to the destination ``options`` names and print its summary.

    Raises :class:`pinlake.errors.UsageError` for options that contradict each other and
    :class:`pinlake.errors.PinlakeError` when the source is missing or (API) a record was not
    acknowledged.
    """
    from pinlake.produce.events import EventStream, plan_draws
    from pinlake.source.db import SourceReader

    with SourceReader(settings) as source:
        inds, total = plan_draws(
            source.size(),
            events=options.events,
            seed=options.seed,
            sequential=options.sequential,
            sequence_file=options.sequence_file,
        )
        events = EventStream(source, inds, total, rate=options.rate)
        if isinstance(options, ProduceToApi):
            from pinlake.produce.http import post_events

            return post_events(settings, events, options)
        from pinlake.produce.bucket import write_events

        return write_events(settings, events, options)


__all__ = ["Draws", "ProduceResult", "ProduceToApi", "ProduceToBucket", "run_produce"]
