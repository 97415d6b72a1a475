"""One Flask Blueprint per resource. A route parses the request (api/common.py,
api/media_input.py, api/schemas/), calls a service and encodes the answer; the work itself
lives in services/, jobs/ and below."""
