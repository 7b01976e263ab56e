"""The error a user can act on: shown as one ``error: ...`` line, or as a message in the window."""


class UserError(ValueError):
    """Bad input from the user; the message names the file or value and what is wrong with it."""
