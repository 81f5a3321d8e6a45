"""The portal: organisations, members, catalogue pages and workspaces (FastAPI + SQLAlchemy)."""
