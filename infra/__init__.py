"""Infrastructure as code (Pulumi): the central platform and each contract's environment."""
