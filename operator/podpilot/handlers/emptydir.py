"""kopf handlers of the emptydir controller (registered on import)."""
