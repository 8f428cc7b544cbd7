"""The core every other package uses: errors, the one registry pattern, the task catalog's declarations,
the names and paper defaults written once, config number types, files written atomically, signals.

Imports nothing else of stilts (tests/test_architecture.py keeps the direction)."""
