"""The inference wing of the screen: the task list, model box, input, tokens (with stages, chat template and
compare), output with its renderers and trace panel, and the controllers that load models and run tasks.

Controllers are plain objects owned by the main screen: they start thread workers on it and report through
messages, so panes never reach into each other."""
