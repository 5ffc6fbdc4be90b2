"""The `grokvid batch` command's display, outcome reporting and output files."""
