"""The change-stream source: Salesforce Pub/Sub API channels onto Kafka with exactly-once replay-id checkpoints."""
