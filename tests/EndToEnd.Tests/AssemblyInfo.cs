// These tests drive the CLI in-process and capture the console, which is process-wide.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
