"""podpilot's own rules around the HPA engine (pure): fallback, activation, pause, dry-run."""
