-- The store says it is confab's: SQLite's `application_id` header field, which `file(1)` and
-- confab itself read before opening a file (store/sqlite/recognise.rs). Stores made before this
-- migration are recognised by their tables, then marked here.

PRAGMA application_id = 1668247142; -- 0x636f6e66, "conf" in ASCII
