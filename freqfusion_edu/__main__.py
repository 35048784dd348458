"""``python -m freqfusion_edu ...`` (also what ``torchrun -m freqfusion_edu`` runs)."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
