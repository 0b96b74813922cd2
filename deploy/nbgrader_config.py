"""nbgrader's exchange for a hub built from the spfteach image (every user's pod reads it).

``scripts/setup.sh --image`` installs this file as ``<image Python>/etc/jupyter/
nbgrader_config.py``, on the Jupyter config path of every student's and the grader's
server.  The exchange root is where deploy/z2jh/values.yaml mounts the shared (RWX)
volume, and what ``make hub`` uses on one machine; tests/test_deploy.py holds the three
together.  The course's own settings (the jail grading, timeouts) stay in
notebooks/course/nbgrader_config.py, which the grader's course directory carries.
"""

c = get_config()  # noqa: F821 - nbgrader's config loader provides it

c.Exchange.root = "/srv/nbgrader/exchange"
c.CourseDirectory.course_id = "spfteach"

# On Zero to JupyterHub every pod runs as the same uid (1000, `jovyan`), so the owner of a
# submission in the exchange says nothing about who submitted it: `nbgrader collect` would
# warn "cheating attempt?" on every one.  The exchange cannot tell students apart there
# (README, "Beyond one machine"); this only stops the warning that cannot be acted upon.
# (The warning names CollectApp.check_owner; nbgrader 0.9.6's trait is on ExchangeCollect.)
c.ExchangeCollect.check_owner = False
