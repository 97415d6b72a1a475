"""Use cases, Flask-free: what routes, jobs and the CLI call."""
