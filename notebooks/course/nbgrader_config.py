"""The spfteach course for nbgrader (run nbgrader from this directory).

Two things differ from a stock course, both for the same reason: a grade must
not be computable by the student's own notebook.

* ``nbgrader_plugin.configure(c)`` pins each assignment to the spfteach package
  that releases it and grades every exercise cell *outside* the student's kernel,
  from the source of the answer cell (spfteach/grading/nbgrader_plugin.py).
* Each grading part has its own time limit in a fresh process (the plugin's
  ``Regrade.timeout``); the cell limit below only bounds a student's own cell.
"""

import os

from spfteach.grading import nbgrader_plugin

c = get_config()  # noqa: F821 - nbgrader's config loader provides it

c.CourseDirectory.course_id = "spfteach"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.assignment_id = ""

# A cell of the student's that loops forever is interrupted after this many
# seconds and the rest of the notebook still runs (allow_errors).
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Seconds per graded part in the worker (a loop costs that part only).
c.Regrade.timeout = 20

nbgrader_plugin.configure(c)
