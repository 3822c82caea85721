"""The company's standard roles."""
