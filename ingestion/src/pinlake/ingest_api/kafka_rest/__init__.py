"""The Confluent Kafka REST Proxy v2 facade: :mod:`.codec` (pure request parsing) and
:mod:`.routes` (the FastAPI router)."""
