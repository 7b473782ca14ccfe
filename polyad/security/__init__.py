"""Who may call the agent, and how often: JWT verification, scopes, rate limits, redaction."""
