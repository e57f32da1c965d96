"""The processor's edge: the faust-streaming app (agent, changelog-backed dedupe table) around the core."""
