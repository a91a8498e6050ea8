"""Helpers shared by test folders (importable as ``support`` from any test module)."""
