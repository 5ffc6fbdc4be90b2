"""`python -m grokvid`: the same as the `grokvid` command."""

from grokvid.cli.main import main

if __name__ == "__main__":
    main()
