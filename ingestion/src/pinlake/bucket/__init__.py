"""The topics bucket: the hand-off between ingestion (producer, sink) and the lakehouse (land).

:mod:`pinlake.bucket.layout` owns everything about its files (layout, names, durable writes,
temp-file hygiene, listing); :mod:`pinlake.bucket.sink` fills it from the batch Kafka topics.
"""
