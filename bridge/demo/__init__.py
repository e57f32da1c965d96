"""The interim demo: publish deterministic customer and deal events to Kafka and prove none is lost."""
