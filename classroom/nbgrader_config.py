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
