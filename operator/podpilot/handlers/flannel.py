"""kopf handlers of the flannel controller (registered on import)."""
