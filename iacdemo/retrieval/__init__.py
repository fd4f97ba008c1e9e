"""Retrieval over the documentation (BM25), for the retrieval-augmented mode of Compare and Evaluate."""
from iacdemo.retrieval.bm25_index import (DocsIndex, Hit, build_docs_index, build_rag_messages, format_context,
                                          get_default_index)

__all__ = ["DocsIndex", "Hit", "build_docs_index", "build_rag_messages", "format_context", "get_default_index"]
