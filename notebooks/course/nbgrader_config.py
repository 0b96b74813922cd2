"""The spfteach course for nbgrader (run nbgrader from this directory).

One thing differs from a stock course: a grade must not be computable by the
student's own notebook.  ``nbgrader_plugin.configure(c)`` takes nbgrader's
``Execute`` out of autograde: no notebook is executed, and every grade cell is
graded by the judge from the source of its answer cell, the student's code
running in a jail (spfteach/grading/nbgrader_plugin.py, jail.py).  Check that
this machine can run the jail with ``spfteach grading jail``.
"""

import os

from spfteach.grading import nbgrader_plugin

c = get_config()  # noqa: F821 - nbgrader's config loader provides it

c.CourseDirectory.course_id = "spfteach"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.assignment_id = ""

# `nbgrader validate` (the student's Validate button, an instructor checking a source
# notebook) still executes: a cell that loops forever is interrupted after this many seconds.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Seconds of jail time per graded part (a loop costs that part only), and the judge
# processes grading a class in parallel (0: one per CPU).
c.Regrade.timeout = 20
c.Regrade.jobs = 0

nbgrader_plugin.configure(c)
