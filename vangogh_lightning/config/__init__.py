"""From the command line to the task (torch-free, importing only ``core``): the schema, the run record of
train.py, pre-flight checks, the entry point, resolvers."""
