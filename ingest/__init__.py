"""The front door and the clock: mailbox sources, the poll cycle, the scheduler, the command line.

Its public face, by module (not imported here, so that `baosong` starts without loading
what a command does not use):

- `ingest.cli`: `main`, the `baosong` command.
- `ingest.cycle`: `poll(context, progress)` and `reprocess`, one cycle over the mailbox.
- `ingest.context`: `Context.build(settings, clock)`, what a cycle works with.
- `ingest.sources`: `open_source(config)`, an IMAP folder, a Maildir or a folder of .eml files.
- `ingest.daemon`: `Daemon`, the scheduler of `baosong run`.
- `ingest.demo`: `baosong demo` on the bundled sample mailbox.
"""
