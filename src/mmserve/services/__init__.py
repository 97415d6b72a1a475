"""The use cases, Flask-free: what a route, a CLI command and a job call to get work done.

    content       parse a request's content (text, image, audio) and embed it with one model
    store_embed   embed content for the search store, through its embedding cache
    transcripts   transcribe a recording window by window; OpenAI's response formats
    fusion        serve the fusion registry's active models (runners kept in step)
    state         Services: the one typed object holding every subsystem of an app
    security      Services.security: keys, authentication, rate limits, usage, grants, audit
    auth, oidc    who a credential belongs to (API key, OIDC token) and its scopes
    ratelimit     token buckets per key
    usage         metered usage, quotas per day or month, flushed to auth.sqlite3
    pii           regex redaction of personal data in text
    deidentify    the `deidentify` field applied to transcripts, OCR and stored items

May import batching/, store/, fusion/, models/, media/ and the leaf modules (config, errors,
metrics, files); never flask, api/, cli/ or jobs/ (jobs/ calls services, not the reverse).
"""
