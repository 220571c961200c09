"""Where baosong keeps things: the config, the database, the spool and archive, the locks,
the operator log and the outbox. Everything written to disk goes through this package.

Its public face, by module (not imported here: `baosong` loads SQLAlchemy only for the
commands that need it, and every import of a `store` module runs this file):

- `store.config`: `load_settings(path) -> Settings`, validated once at start; `ConfigError`.
- `store.model`: the domain (`Campaign`, `Unit`, `Deadline`, `Kind`, `State`, `Outcome`) and
  `BaosongError`, the base of every error a clerk is shown.
- `store.db`: `Store`, which keeps each message durably (`spool`, `recording`) and files it
  (`file`, `transaction`), with the values it takes and gives (`Seen`, `Kept`, `Filing`, ...).
- `store.outbox`: `Outbox`, the durable queue of outgoing mail, in the same database.
- `store.status`: `load_status`, what `baosong status` shows.
- `store.oplog`: `OperatorLog`, the Chinese log for the operator.
- `store.lock`: `exclusive`, one poller per mailbox.
"""
