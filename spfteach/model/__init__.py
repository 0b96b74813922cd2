"""The reference model of the fault path: classic and speculative.

Files are laid out like the kernel's: ``memory.py`` is ``mm/memory.c``,
``mmap.py`` is ``mm/mmap.c``, ``fault.py`` is ``arch/x86/mm/fault.c``.
Nothing here imports Jupyter.
"""
