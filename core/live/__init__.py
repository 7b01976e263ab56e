"""The live path: capture, newest-wins hand-offs, the pipeline, sinks, statistics, events."""
