"""nbgrader configuration for the freqfusion-edu classroom. Run every nbgrader command from this
folder (``cd classroom``), which is the course root: ``source/`` holds the teacher's notebooks,
``release/`` the generated student versions (see README.md)."""
c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "freqfusion-edu"

# What the student sees where a solution was.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Every notebook is tiny (a few small tensors); a cell that runs longer is stuck.
c.Execute.timeout = 120
c.Execute.kernel_name = "python3"

# `nbgrader autograde` (0.9.6 with SQLAlchemy 2) prints three "SAWarning: Object of type
# <SubmittedAssignment> / <SubmittedNotebook> not in session, add operation along ... will not
# proceed" per new submission: SQLAlchemy's autoflush meets an object nbgrader adds to the
# session on the next line. Nothing is lost (the grades are in gradebook.db, `nbgrader export`
# lists them; tests/test_classroom.py checks the score). nbgrader reads this file in its own
# process, so this filter hides exactly that message and nothing else.
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session",
                        module=r"nbgrader\.api")
