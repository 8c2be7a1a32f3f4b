"""The package version, in a leaf module so the client can name it without importing the package's ``__init__``."""

__version__ = "0.1.0"
