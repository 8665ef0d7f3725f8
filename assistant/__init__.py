"""Answers questions over Chinese policy documents, each answer backed by verbatim cited passages."""
