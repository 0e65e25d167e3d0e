"""Test support used by the demo and the tests: real receivers on loopback (signed
webhook, SMTP) and raw rows landed with their provenance.
"""
