"""Production deployment: instance and warehouse checks, warehouse roles."""
