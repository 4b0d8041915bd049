"""Assistants-shaped runs, the store, the run loop, the library API, the server and the CLI."""
