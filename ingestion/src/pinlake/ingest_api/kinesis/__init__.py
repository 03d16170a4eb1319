"""The Kinesis facade: :mod:`.codec` (pure encodings and validation), :mod:`.operations` (each
Kinesis operation over the Kafka backend), and the two ways of calling them: :mod:`.routes`
(the API Gateway Kinesis proxy of the AWS tutorial) and :mod:`.sdk_protocol` (Kinesis' own
JSON protocol, which the AWS SDKs speak)."""
