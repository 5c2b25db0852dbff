"""`python -m solutions ...` is the `solutions` command."""

from solutions.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
