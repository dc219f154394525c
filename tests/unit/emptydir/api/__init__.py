"""Unit tests of podpilot.emptydir.api."""
