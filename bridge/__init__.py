"""crm-bridge: an event-driven streaming bridge between business systems and Salesforce, on Kafka."""
