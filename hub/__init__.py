"""JupyterHub configuration as code: profiles from the catalogue, local and Kubernetes backends."""
