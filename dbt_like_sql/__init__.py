"""The SQL models, dbt style: sources.yml, staging/, marts/ and includes/.

Shipped as package data and read through importlib.resources.
"""
