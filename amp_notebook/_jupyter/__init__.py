"""The notebook layer: the code that needs IPython or ipywidgets (imported lazily, when shown).

- ``progress``: the progress bar of a kernel (the ways in hand ``widget_sink`` down to
  ``_progress.make_sink`` as a value);
- ``mapper``: ``df.amplitude.mapper()``, dropdowns per event key with live counts;
- ``magics``: ``%load_ext amp_notebook`` and the ``%amplitude`` line magic.

Everything below it (the pure core, the sending layer) runs in a plain terminal and never
imports this package; ``tests/test_layers.py`` keeps it so. The public ways in stay
where they were: ``df.amplitude.mapper()``, ``%load_ext amp_notebook``, ``progress=``.
"""
