"""kopf handlers of the autoscaler controller (registered on import)."""
