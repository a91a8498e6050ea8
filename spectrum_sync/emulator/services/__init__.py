"""gRPC service implementations of the emulator, one module per proto service."""
