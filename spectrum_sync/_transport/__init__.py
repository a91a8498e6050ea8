"""The transport layer: credentials, channels per line, and the call wrapper.

``credentials`` keeps bearer tokens fresh (REST exchange in ``token_exchange``), ``lines``
holds one unary and one stream channel per line, ``invoker`` runs every call (auth,
idempotency, deadline, retry, error translation) and opens streams with the same auth path.
"""
