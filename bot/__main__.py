"""``python -m bot``: the same as the ``opsbot`` console script."""

from bot.entrypoints.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
