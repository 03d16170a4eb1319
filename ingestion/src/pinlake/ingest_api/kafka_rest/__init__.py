"""The Confluent Kafka REST Proxy v2 facade: :mod:`.codec` (pure request parsing) and
:mod:`.routes` (the FastAPI router) for produce and metadata; :mod:`.consumer_codec` (pure) and
:mod:`.consumer_routes` for the v2 consumer API."""
