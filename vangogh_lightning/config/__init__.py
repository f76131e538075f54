"""From the command line to the task: the schema, pre-flight checks, the entry point, resolvers (torch-free)."""
