"""Helpers the tests share: builders, servers, fixtures of data. No test module imports another."""
