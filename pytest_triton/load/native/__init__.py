"""The native load driver: load loops in child processes on our own gRPC and HTTP framing."""
