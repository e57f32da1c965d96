"""The processor's pure core: map → dedupe → validate → route. No faust, no Kafka, no I/O."""
