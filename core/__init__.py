"""Facade's engine room: capture, face alignment, engines, sinks and pipelines. Imports no Qt."""
