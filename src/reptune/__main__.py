"""``python -m reptune`` (also what ``accelerate launch -m reptune`` runs)."""

from .cli import main

main()
