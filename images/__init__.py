"""Container image definitions per bundle, generated from the catalogue, and the portal image."""
