"""The local dev cluster: builds upstream components from Go modules and runs them on 127.0.0.1."""
