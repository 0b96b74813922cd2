#!/usr/bin/env bash
# Run in every user's pod as it starts (Zero to JupyterHub: singleuser.lifecycleHooks.postStart
# in deploy/z2jh/values.yaml), as the user, with the home volume mounted. The image keeps the
# checkout in /srv/spfteach because the home volume hides whatever the image has in $HOME.
#  - everyone: the workbook's notebooks copied to ~/spfteach once (the copy is the user's to
#    edit; a later image never overwrites it); the course's files are not part of it;
#  - the grader account ($SPFTEACH_GRADER): ~/.jupyter/nbgrader_config.py, once, loading the
#    course's own config from ~/course (where the instructor copies notebooks/course/, with
#    its source/, which the image leaves out): that config points nbgrader at ~/course and
#    turns on the jailed grading.
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ ! -e "$HOME/spfteach" ]; then
    mkdir -p "$HOME/spfteach"
    for f in "$SRC"/notebooks/*; do
        [ "$(basename "$f")" = course ] || cp -r "$f" "$HOME/spfteach/"
    done
fi

if [ -n "${SPFTEACH_GRADER:-}" ] && [ "${JUPYTERHUB_USER:-}" = "$SPFTEACH_GRADER" ] \
        && [ ! -e "$HOME/.jupyter/nbgrader_config.py" ]; then
    mkdir -p "$HOME/.jupyter"
    printf '%s\n' \
        '# Written once by /srv/spfteach/deploy/poststart.sh: the course lives in ~/course.' \
        "load_subconfig('$HOME/course/nbgrader_config.py')  # noqa: F821" \
        > "$HOME/.jupyter/nbgrader_config.py"
fi
