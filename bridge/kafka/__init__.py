"""Kafka adapters: the producer, consumers and the local broker used by tests and the demo."""
