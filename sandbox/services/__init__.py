"""Stand-ins of the national services, each a SandboxService served by the sandbox harness."""
