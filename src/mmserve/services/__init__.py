"""Use cases, Flask-free: what the routes, jobs and the CLI call."""
