"""The API server's shared machinery: the clients every call goes through (each call with a
timeout), discovery, list-and-watch, /scale, object and status writes, Events, single-flight
reads and the Leases. A controller's or a metric source's own reads use these clients."""
