//! The page cache wrapper (`store::pcache`), in a process of its own: it must be set before
//! SQLite starts, so this file's one test sets it first.
//!
//! Page splits swap pages through the locking page's number, which the wrapper stores under
//! key 0; the test makes thousands of splits in an index keyed by random values, commits
//! some transactions and rolls others back (both drop the cache's pages past the end), and
//! checks with SQLite's own integrity check and with the rows read back, on the connection
//! that wrote them and on a new one.

#![allow(clippy::expect_used)]

use interlude::store::pcache;
use rusqlite::Connection;

/// A reproducible pseudo-random key (xorshift64*), 32 hex digits.
fn key(seed: &mut u64) -> String {
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    format!(
        "{:016x}{:016x}",
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D),
        *seed
    )
}

fn keys(db: &Connection) -> Vec<String> {
    let mut statement = db.prepare("SELECT k FROM t ORDER BY k").expect("prepare");
    statement
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn check(db: &Connection) {
    let verdict: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check");
    assert_eq!(verdict, "ok");
}

#[test]
fn pages_split_through_the_moved_key_commit_and_roll_back_intact() {
    assert!(pcache::install(), "the wrapper is set before SQLite starts");
    assert!(pcache::install(), "and stays set");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("split.db");
    let db = Connection::open(&path).expect("open");
    db.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA cache_size = -65536;
         CREATE TABLE t (k TEXT NOT NULL, pad TEXT NOT NULL);
         CREATE UNIQUE INDEX t_k ON t (k);",
    )
    .expect("schema");

    let mut seed = 0x1234_5678_9abc_def1_u64;
    let mut kept = Vec::new();
    for round in 0..40 {
        let tx = db.unchecked_transaction().expect("begin");
        let mut written = Vec::new();
        for _ in 0..500 {
            let k = key(&mut seed);
            tx.execute(
                "INSERT INTO t (k, pad) VALUES (?1, ?2)",
                (&k, "x".repeat(200)),
            )
            .expect("insert");
            written.push(k);
        }
        if round % 3 == 2 {
            tx.rollback().expect("rollback");
        } else {
            tx.commit().expect("commit");
            kept.extend(written);
        }
    }
    assert!(
        pcache::moves() > 0,
        "the splits swapped pages through the locking page's number"
    );

    kept.sort();
    check(&db);
    assert_eq!(
        keys(&db),
        kept,
        "the writer's connection reads every committed row"
    );
    let other = Connection::open(&path).expect("open again");
    check(&other);
    assert_eq!(keys(&other), kept, "a new connection reads the same rows");
}
