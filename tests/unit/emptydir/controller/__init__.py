"""Unit tests of podpilot.emptydir.controller."""
