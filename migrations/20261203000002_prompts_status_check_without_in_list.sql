-- The CHECK on prompts.status was `status IN (five values)`. SQLite evaluates a CHECK's
-- IN list by building a temporary b-tree of its values, every time a statement inserts or
-- updates a row: about 2.9 us per insert against 0.06 us for the same check written as
-- equalities (200,000 inserts, docs/benchmark.md, session 8). Every login inserts a prompt,
-- on the writer's thread, which all writes share.
--
-- The new CHECK accepts exactly the same values, so no row needs to be checked again and
-- the file's contents do not change: SQLite's documented procedure for such a change
-- (https://sqlite.org/lang_altertable.html, "other kinds of table schema changes") edits
-- the table's CREATE statement in sqlite_schema instead of rebuilding the table. RESET
-- below makes this connection read the schema again; a connection elsewhere that still
-- holds the old statement checks the same values the old way.
PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(sql,
    'CHECK (status IN (''pending'', ''completed'', ''skipped'', ''declined'', ''expired''))',
    'CHECK (status = ''pending'' OR status = ''completed'' OR status = ''skipped'' OR status = ''declined'' OR status = ''expired'')')
WHERE type = 'table' AND name = 'prompts';

PRAGMA writable_schema = RESET;

-- The statement was rewritten: otherwise this insert fails, and with it the migration.
CREATE TEMP TABLE prompts_check_rewritten (done INTEGER NOT NULL CHECK (done = 1));
INSERT INTO prompts_check_rewritten
SELECT instr(sql, 'status = ''expired''') > 0 AND instr(sql, 'status IN') = 0
FROM sqlite_schema WHERE type = 'table' AND name = 'prompts';
DROP TABLE prompts_check_rewritten;
