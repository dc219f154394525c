"""Unit tests of the pure emptyDir audit."""
