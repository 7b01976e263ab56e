"""The First Order Motion Model networks, their configurations and checkpoint files.

Imports torch and numpy only, so it runs on a machine that has nothing else.
"""
