"""The C beside the model: every step of the model names a C statement (``Src``: file,
function, a snippet of one line), and this package ties those names to lines of code.

- :mod:`.csrc` resolves a ``Src`` to its line in a kernel tree (our patched
  ``linux-source-6.1``, ``kernel/build/linux``) and checks that the model visits the lines of a
  function in their order (``python -m spfteach.csource.csrc TREE``).
- :mod:`.excerpts` ships what the steppers show without a tree: the functions the model steps
  through, cut from the tree into ``spfteach/data/c-excerpts.json`` (``python -m
  spfteach.csource.excerpts`` regenerates it; the kernel tests check it against the tree).

It ranks with the engine (DESIGN.md §8): it reads the model's sources and the scenarios, and the
widgets and the command line read it.
"""
