"""The company's standard actions."""
