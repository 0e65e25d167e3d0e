"""Ingestion: the source entities, the client that fetches them, the quality suites that
guard them, landing with quarantine, freshness and volume.
"""
