"""The API Gateway Kinesis-proxy facade: :mod:`.codec` (pure encodings and validation) and
:mod:`.routes` (the FastAPI router)."""
