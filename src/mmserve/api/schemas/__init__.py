"""Request and response schemas, one module per resource, declared once: requests are
validated with them and the OpenAPI document is generated from them (api/openapi.py).

Pydantic models only: no Flask, no services. common.py holds the shapes several resources
share (the error body, a scored label)."""
