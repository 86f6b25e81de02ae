"""Test doubles shared by the unit and end-to-end suites (real servers, not mocks of our code)."""
