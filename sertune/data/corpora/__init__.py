"""Corpus modules. Importing this package registers every corpus with the registry."""

from sertune.data.corpora import emodb

__all__ = ["emodb"]
