"""``python -m stead.cli``."""

from .main import main

main()
