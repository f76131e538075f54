"""The whole study as one resumable pipeline of real script runs, its report page, and the demo."""
