"""Order of the gallery examples: the story of the user guide, then the rest."""

from pathlib import Path

ORDER = [
    "plot_two_coins.py",
    "plot_variant_allele_frequencies.py",
    "plot_overdispersion.py",
    "plot_choosing_k.py",
    "plot_sklearn_integration.py",
    "plot_dice.py",
    "plot_uncertainty.py",
    "plot_semi_supervised_digits.py",
    "plot_betablocker.py",
]


class ExampleOrder:
    """Sort key of sphinx-gallery: listed examples first, others by name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __call__(self, filename):
        name = Path(filename).name
        return (ORDER.index(name) if name in ORDER else len(ORDER), name)
