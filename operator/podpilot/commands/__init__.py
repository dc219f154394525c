"""Subcommands of the podpilot CLI that are not big enough for a package of their own."""
