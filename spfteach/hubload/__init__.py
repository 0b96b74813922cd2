"""What one student costs under load (issue 26): simulated students driving their kernels.

:mod:`.student` is one student speaking the Jupyter kernel protocol over a server's websocket,
:mod:`.procstat` reads memory and CPU from ``/proc``, :mod:`.bench` (``make bench``) runs N of
them and writes ``spfteach/data/hub-load.json``.  The layer sits on top (tests/test_layering.py): it
drives the whole stack from outside, as a browser would, and imports no Jupyter itself.
"""
