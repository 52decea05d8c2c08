"""Services hold Parley's rules. They take explicit arguments and run without a request."""
