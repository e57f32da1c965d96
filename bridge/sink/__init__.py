"""The sink: the write topics into Salesforce, rate-shaped by the governor, outcomes to crm.results or crm.dlq."""
