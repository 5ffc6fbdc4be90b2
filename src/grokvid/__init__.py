"""grokvid: generate short videos with xAI's Grok Imagine Video from the command line."""

__version__ = "0.1.0"
