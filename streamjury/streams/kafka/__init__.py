"""The Apache Kafka transport (confluent-kafka): groups, idempotent producer, transactions."""

from streamjury.streams.kafka.backend import KafkaBackend

__all__ = ["KafkaBackend"]
