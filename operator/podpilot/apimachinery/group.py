"""podpilot's own API group and version, named once."""

GROUP = "podpilot.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
