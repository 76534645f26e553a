"""The notebook layer: code that needs IPython or ipywidgets (imported lazily, when shown).

Everything below it (the pure core, the sending layer) runs in a plain terminal and never
imports this package; ``tests/test_layers.py`` keeps it so.
"""
