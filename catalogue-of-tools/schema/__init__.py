"""The catalogue JSON Schemas, importable as package data (``gereedschapskist.catalogue.schemas``)."""
