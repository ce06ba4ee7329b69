"""State that outlives any one pane (the loaded model, the running task), with the workers that change it.

Controllers are plain objects owned by the main screen: they start thread workers on it and report
through messages, so panes never reach into each other.
"""
