"""Unit tests of the emptyDir audit (engine, api, controller) and of its kopf handlers."""
