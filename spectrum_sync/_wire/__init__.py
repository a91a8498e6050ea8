"""The wire layer: the RPC table, protobuf <-> public types, gRPC errors -> SpectrumError.

Everything that knows the generated ``_proto`` modules lives here or in the transport; the
public types (``_models``, ``_events``) never import them.
"""
