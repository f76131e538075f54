"""Importable helpers for tests that run the scripts in a subprocess."""
