"""The Autoscaler resource in and out (pure): spec parsing, status rendering, history,
explanation, HPA conversion and the wording of events."""
