"""Use cases, Flask-free: called by api/ routes, the CLI and jobs."""
