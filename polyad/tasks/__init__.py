"""Tasks clients submit: handler registry, scheduling, backends, built-in handlers."""
