"""Generated gRPC stubs of joust.v1 (clients/python/generate.py). Do not edit."""
