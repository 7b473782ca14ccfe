"""The process's open-file limit, against the connections the agent may hold.

Every connection is a file descriptor, and so is each file a collector reads, each Redis
connection and each log file. Under systemd a service's soft limit is 1,024 unless its unit
says otherwise: with `server.max_connections` at 1,024 a flood of connections took every
descriptor, so each collector failed ("Too many open files") and asyncio logged an error per
refused accept, the host unwatched while it lasted (measured with wrk, 1,100 connections). At
start the agent raises its soft limit to what it needs, up to the hard limit, as Go's runtime
does for its programs; what the limit still cannot hold is taken off the connection cap, with
`RESERVE` descriptors kept for everything else.
"""

from __future__ import annotations

import resource

__all__ = ["RESERVE", "fit_connections"]

RESERVE = 256   # descriptors that are not connections: collectors' reads, Redis, logs, TLS


def fit_connections(max_connections: int) -> tuple[int, int]:
    """Raises the soft limit towards `max_connections` + RESERVE (the hard limit at most);
    returns the connections the agent can hold, and the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + RESERVE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if raised > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    if soft == resource.RLIM_INFINITY:
        return max_connections, soft
    return max(1, min(max_connections, soft - RESERVE)), soft
