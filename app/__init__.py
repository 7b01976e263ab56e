"""Facade's window: a thin PySide6 shell over ``core``. No model or video logic lives here."""
