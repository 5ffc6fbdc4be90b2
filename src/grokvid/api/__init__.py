"""grokvid's library: request models, providers, download and the job ledger.

Nothing here imports typer or rich; the terminal lives in grokvid.cli.
"""
