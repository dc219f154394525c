"""Unit tests of the emptyDir controller's pure helpers."""
