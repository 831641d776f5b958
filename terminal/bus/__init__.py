"""The desk bus on Apache Kafka: topics and message codec, the hub (one broker connection for the desk,
order commands placed exactly once under desk-wide risk) and ``KafkaBroker`` (the Broker protocol over it)."""
