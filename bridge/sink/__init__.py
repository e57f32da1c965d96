"""The sink: the write topics into Salesforce, rate-shaped by the governor, outcomes to crm.results or crm.dlq."""

from bridge.sink.delivery import SinkStats
from bridge.sink.executor import RecordWriter
from bridge.sink.runner import build_gate, consumer_config, run_sink
from bridge.sink.sink import Sink, SinkWiring

__all__ = ["RecordWriter", "Sink", "SinkStats", "SinkWiring", "build_gate", "consumer_config", "run_sink"]
