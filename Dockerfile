# A hub image of spfteach: the single-user server that Zero to JupyterHub (deploy/z2jh/) or any
# hub spawning containers starts for each student and for the grader. Build it from the
# repository's root:  docker build -t REGISTRY/spfteach:0.1.0 .
# Its set-up is the checkout's own, in image mode (scripts/setup.sh --image): binder/apt.txt's
# packages (graphviz, bubblewrap), the package with nbgrader and jupyterhub-singleuser into this
# image's Python, the exchange's nbgrader_config.py. No kernel toolchain (building the kernel is
# the instructor's, on a lab machine) and no browser (the tests' only). repo2docker builds the
# same image from binder/ instead (README, "Beyond one machine").
# Debian 12 with Python 3.11: the system the workbook, its jail and its tests run on here.
FROM python:3.11-slim-bookworm

# The hub starts the container as uid 1000 (Zero to JupyterHub's singleuser.uid), group 100
# (singleuser.fsGid); nbgrader takes the student's name from JUPYTERHUB_USER only when the
# process's user is called jovyan (nbgrader.utils.get_username).
ARG NB_USER=jovyan
ARG NB_UID=1000
RUN useradd --create-home --uid "${NB_UID}" --gid 100 --shell /bin/bash "${NB_USER}"

# The checkout lives outside $HOME, which the user's home volume hides (.dockerignore keeps the
# course's source notebooks, which hold the solutions, out).
COPY . /srv/spfteach
RUN bash /srv/spfteach/scripts/setup.sh --image \
    && rm -rf /var/lib/apt/lists/*

USER ${NB_USER}
WORKDIR /home/${NB_USER}
ENV SHELL=/bin/bash
EXPOSE 8888
CMD ["jupyterhub-singleuser"]
