//! A randomized test of the writer's VFS (`interlude::store::walvfs`), which holds a
//! transaction's WAL frames and writes them when its commit frame comes: seeded runs of
//! transactions (spilling, with savepoints, committed or rolled back), checkpoints of every
//! kind, a second writer on the default VFS, reopening, and copies of the files taken
//! between transactions, each compared with a model of what was committed. Some
//! transactions meet a full disk: one of their writes fails with ENOSPC (the `unix` VFS's
//! `pwrite`, which the writer's VFS writes through, is replaced for the test), and the
//! database must then hold either the last commit or, where SQLite went on and committed,
//! everything that succeeded, never a mix. A COMMIT that failed after its commit frame was
//! written (the padding after it) is also in the files until the next commit writes over
//! it, so a copy may hold it then: SQLite's own VFS leaves the same files (a test below).
//!
//! CI runs seeds 1 to 16 (seed 3 finds a VFS that does not write what it holds before
//! the WAL's locks change). `WALVFS_SEEDS=N` runs N seeds from 1, `WALVFS_STEPS=N`
//! takes N steps per seed; a failure names its seed and step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use interlude::store::walvfs;
use rusqlite::{Connection, OpenFlags, params};

/// A full disk on demand: the `unix` VFS's `pwrite` (which the writer's VFS writes through)
/// replaced, for the whole process, by one that fails with ENOSPC on the n-th call of the
/// thread that armed it, once; every other call goes to the real one.
mod full_disk {
    use std::cell::Cell;
    use std::ffi::c_void;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    type Pwrite = unsafe extern "C" fn(i32, *const c_void, usize, i64) -> isize;

    thread_local! {
        /// Calls left until the failing one (0: disarmed).
        static CALLS_LEFT: Cell<u64> = const { Cell::new(0) };
        /// Whether the armed failure happened.
        static FIRED: Cell<bool> = const { Cell::new(false) };
        /// Every call fails until [`disarm`] (a disk that stays full).
        static FULL: Cell<bool> = const { Cell::new(false) };
    }

    static REAL: OnceLock<usize> = OnceLock::new();

    /// Failures injected in this process.
    pub static INJECTED: AtomicU64 = AtomicU64::new(0);

    unsafe extern "C" {
        fn __errno_location() -> *mut i32;
    }

    unsafe extern "C" fn pwrite(fd: i32, buf: *const c_void, n: usize, off: i64) -> isize {
        let left = CALLS_LEFT.with(Cell::get);
        if left > 0 {
            CALLS_LEFT.with(|c| c.set(left - 1));
        }
        if left == 1 || FULL.with(Cell::get) {
            FIRED.with(|f| f.set(true));
            INJECTED.fetch_add(1, Ordering::Relaxed);
            // SAFETY: the C library's errno of this thread.
            unsafe { *__errno_location() = 28 }; // ENOSPC
            return -1;
        }
        // SAFETY: the `unix` VFS's own pwrite, with its arguments.
        unsafe {
            let real: Pwrite = std::mem::transmute(*REAL.get().expect("the real pwrite"));
            real(fd, buf, n, off)
        }
    }

    /// Puts the failing `pwrite` in place (once per process).
    pub fn install() {
        REAL.get_or_init(|| {
            // SAFETY: the `unix` VFS's system call table, read and then set once; the
            // replacement passes every call but the armed one to the original.
            unsafe {
                let unix = rusqlite::ffi::sqlite3_vfs_find(c"unix".as_ptr());
                assert!(!unix.is_null(), "the unix VFS");
                let get = (*unix).xGetSystemCall.expect("xGetSystemCall");
                let real = get(unix, c"pwrite".as_ptr()).expect("pwrite") as usize;
                let set = (*unix).xSetSystemCall.expect("xSetSystemCall");
                assert_eq!(
                    set(
                        unix,
                        c"pwrite".as_ptr(),
                        Some(std::mem::transmute::<Pwrite, unsafe extern "C" fn()>(
                            pwrite
                        ))
                    ),
                    rusqlite::ffi::SQLITE_OK
                );
                real
            }
        });
    }

    /// The `n`-th `pwrite` of this thread from now fails (n ≥ 1).
    pub fn arm(n: u64) {
        CALLS_LEFT.with(|c| c.set(n));
        FIRED.with(|f| f.set(false));
    }

    /// Every `pwrite` of this thread fails from now until [`disarm`].
    pub fn fill() {
        FULL.with(|f| f.set(true));
        FIRED.with(|f| f.set(false));
    }

    /// Disarms; returns whether the failure happened since [`arm`] or [`fill`].
    pub fn disarm() -> bool {
        CALLS_LEFT.with(|c| c.set(0));
        FULL.with(|f| f.set(false));
        FIRED.with(|f| f.replace(false))
    }

    /// Whether the armed failure has happened (without disarming).
    pub fn fired() -> bool {
        FIRED.with(Cell::get)
    }
}

/// splitmix64: small, seeded, good enough to pick steps.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.below(items.len() as u64)).unwrap()]
    }

    fn blob(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

type Rows = BTreeMap<i64, Vec<u8>>;

/// What a connection sees of the table.
fn content(conn: &Connection) -> Result<Rows, rusqlite::Error> {
    let mut statement = conn.prepare("SELECT k, v FROM t ORDER BY k")?;
    let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The same, or a panic naming the seed and step.
fn seen(conn: &Connection, at: &str) -> Rows {
    content(conn).unwrap_or_else(|e| panic!("{at}: reading the table: {e}"))
}

fn digest(rows: &Rows) -> u64 {
    let mut h = DefaultHasher::new();
    rows.hash(&mut h);
    h.finish()
}

/// A thread that reads the table over and over while the steps run: every read must be
/// a state that was committed (or was about to be: a state is listed just before its
/// COMMIT). Returns what went wrong, if anything.
fn watch(
    db: PathBuf,
    states: Arc<Mutex<HashSet<u64>>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Option<String>> {
    std::thread::spawn(move || {
        let conn = Connection::open(&db).ok()?;
        while !stop.load(Ordering::Relaxed) {
            match content(&conn) {
                Ok(rows) => {
                    let known = states.lock().is_ok_and(|s| s.contains(&digest(&rows)));
                    if !known {
                        return Some(format!("a state never committed ({} rows)", rows.len()));
                    }
                }
                Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {}
                Err(e) => return Some(format!("reading: {e}")),
            }
        }
        None
    })
}

fn integrity(conn: &Connection) -> String {
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap_or_else(|e| e.to_string())
}

struct Run {
    seed: u64,
    step: usize,
    dir: tempfile::TempDir,
    db: PathBuf,
    psow: bool,
    settings: String,
}

impl Run {
    fn at(&self) -> String {
        format!("seed {} step {} ({})", self.seed, self.step, self.settings)
    }

    fn open_writer(&self) -> Connection {
        let uri = format!(
            "file:{}?psow={}",
            self.db.display(),
            if self.psow { 1 } else { 0 }
        );
        let conn = Connection::open_with_flags_and_vfs(
            uri,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI,
            walvfs::NAME,
        )
        .unwrap_or_else(|e| panic!("{}: the writer opens: {e}", self.at()));
        conn.execute_batch(&self.settings)
            .unwrap_or_else(|e| panic!("{}: settings: {e}", self.at()));
        conn
    }

    /// Copies the database and its WAL (not the shm, as after a crash) and opens the copy.
    fn copy(&self, n: usize) -> Connection {
        let to = self.dir.path().join(format!("copy-{n}"));
        std::fs::create_dir_all(&to).unwrap();
        let copied = to.join("w.db");
        std::fs::copy(&self.db, &copied).unwrap();
        let wal = wal_of(&self.db);
        if wal.exists() {
            std::fs::copy(&wal, wal_of(&copied)).unwrap();
        }
        Connection::open(&copied).unwrap()
    }
}

fn wal_of(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// One statement of a transaction, applied to the connection and, when it succeeds, to
/// `rows` (a statement that fails is undone by SQLite, at least).
fn write(
    conn: &Connection,
    rng: &mut Rng,
    rows: &mut Rows,
    page: usize,
) -> Result<(), rusqlite::Error> {
    let k = i64::try_from(rng.below(120)).unwrap();
    match rng.below(10) {
        0..=5 => {
            // Up to three pages: overflow chains, and pages enough to spill a small cache.
            let len = usize::try_from(rng.below(3 * page as u64)).unwrap();
            let v = rng.blob(len);
            conn.execute(
                "INSERT INTO t (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                params![k, v],
            )?;
            rows.insert(k, v);
        }
        6..=7 => {
            conn.execute("DELETE FROM t WHERE k = ?1", [k])?;
            rows.remove(&k);
        }
        _ => {
            // Many small rows at once (page splits), in one statement.
            let base = 1000 + i64::try_from(rng.below(10_000)).unwrap();
            let values: Vec<(i64, Vec<u8>)> = (0..20).map(|i| (base + i, rng.blob(40))).collect();
            let sql = format!(
                "INSERT OR REPLACE INTO t (k, v) VALUES {}",
                vec!["(?, ?)"; values.len()].join(", ")
            );
            let args: Vec<&dyn rusqlite::ToSql> = values
                .iter()
                .flat_map(|(k, v)| [k as &dyn rusqlite::ToSql, v as &dyn rusqlite::ToSql])
                .collect();
            conn.execute(&sql, args.as_slice())?;
            rows.extend(values);
        }
    }
    Ok(())
}

/// The statements of one transaction (inside BEGIN), with savepoints and checks of what
/// the reader sees meanwhile; stops at the first failure.
fn body(
    conn: &Connection,
    reader: &Connection,
    rng: &mut Rng,
    rows: &mut Rows,
    committed: &Rows,
    page: usize,
    at: &str,
) -> Result<(), rusqlite::Error> {
    for _ in 0..=rng.below(6) {
        if rng.chance(25) {
            // A savepoint, released or rolled back to.
            let before = rows.clone();
            conn.execute_batch("SAVEPOINT s")?;
            for _ in 0..=rng.below(4) {
                write(conn, rng, rows, page)?;
            }
            if rng.chance(50) {
                conn.execute_batch("ROLLBACK TO s; RELEASE s")?;
                *rows = before;
            } else {
                conn.execute_batch("RELEASE s")?;
            }
        } else {
            write(conn, rng, rows, page)?;
        }
        if rng.chance(30) {
            // Mid-transaction, with frames held: others see the last commit.
            assert_eq!(&seen(reader, at), committed, "{at}: the reader");
            if rng.chance(30) {
                // It may meet the full disk itself (copying into the database file).
                let copied = reader.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                if let Err(e) = copied {
                    assert!(full_disk::fired(), "{at}: a passive checkpoint: {e}");
                }
                assert_eq!(
                    &seen(reader, at),
                    committed,
                    "{at}: after a passive checkpoint"
                );
            }
        }
    }
    // Not always: reading back a spilled page writes what is held (and may fail so).
    if rng.chance(50) {
        match content(conn) {
            Ok(own) => assert_eq!(&own, rows, "{at}: the writer's own view"),
            Err(e) if full_disk::fired() => return Err(e),
            Err(e) => panic!("{at}: the writer's own view: {e}"),
        }
    }
    Ok(())
}

/// Runs one seed; returns how many transactions had a statement fail on the full disk.
fn run(seed: u64, steps: usize) -> u64 {
    full_disk::install();
    let mut faults = 0;
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let page = *rng.pick(&[512usize, 1024, 4096, 8192, 65536]);
    let sync = *rng.pick(&["OFF", "NORMAL", "FULL", "EXTRA"]);
    let cache = *rng.pick(&[2, 5, 20, 2000]);
    let autocheckpoint = *rng.pick(&[0, 5, 100, 1000]);
    let settings = format!(
        "PRAGMA synchronous = {sync}; PRAGMA cache_size = {cache}; \
         PRAGMA wal_autocheckpoint = {autocheckpoint};"
    );
    let mut run = Run {
        seed,
        step: 0,
        db,
        psow: rng.chance(50),
        settings,
        dir,
    };
    {
        let setup = Connection::open(&run.db).unwrap();
        setup
            .execute_batch(&format!(
                "PRAGMA page_size = {page}; PRAGMA journal_mode = WAL;
                 CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL);"
            ))
            .unwrap();
    }
    assert!(walvfs::register());
    let mut writer = run.open_writer();
    // Another writer on the default VFS, and a reader.
    let other = Connection::open(&run.db).unwrap();
    other
        .execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = 5;")
        .unwrap();
    let reader = Connection::open(&run.db).unwrap();
    let mut committed = Rows::new();
    let states = Arc::new(Mutex::new(HashSet::from([digest(&committed)])));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(run.db.clone(), Arc::clone(&states), Arc::clone(&stop));
    let mut copies = 0;
    // The transaction whose COMMIT failed last, if none committed since.
    let mut phantom: Option<(Rows, String, bool)> = None;
    let mut phantoms = 0;

    for step in 0..steps {
        run.step = step;
        let at = run.at();
        match rng.below(20) {
            0..=11 => {
                // A transaction, on the writer mostly; one in six meets a full disk.
                let on_other = rng.chance(25);
                let conn = if on_other { &other } else { &writer };
                let fault = rng.chance(16);
                if fault {
                    full_disk::arm(1 + rng.below(4));
                }
                let mut rows = committed.clone();
                conn.execute_batch("BEGIN").unwrap();
                let done = body(conn, &reader, &mut rng, &mut rows, &committed, page, &at);
                if let Err(e) = &done {
                    assert!(full_disk::fired(), "{at}: {e}");
                }
                let mut failed = done.is_err();
                // SQLite may have rolled the whole transaction back after a failure; if
                // not, what succeeded is committed or rolled back, as without one.
                let open = !conn.is_autocommit();
                if open && rng.chance(80) {
                    states.lock().unwrap().insert(digest(&rows));
                    match conn.execute_batch("COMMIT") {
                        Ok(()) => {
                            committed = rows;
                            phantom = None;
                        }
                        Err(e) => {
                            assert!(full_disk::fired(), "{at}: COMMIT: {e}");
                            failed = true;
                            // Rolled back, or left open to be: either way nothing of it,
                            // unless the failure came after the commit (a checkpoint).
                            let _ = conn.execute_batch("ROLLBACK");
                            let fresh = Connection::open(&run.db).unwrap();
                            let now = seen(&fresh, &at);
                            assert!(
                                now == committed || now == rows,
                                "{at}: after a failed COMMIT, neither the last commit nor this one"
                            );
                            if now == rows {
                                committed = now;
                                phantom = None;
                            } else {
                                // Its commit frame may be in the WAL file already (a later
                                // write failed: the sync's padding), where recovery from the
                                // file alone (a crash) finds it, as SQLite's own VFS leaves
                                // it, until the next commit writes over it.
                                phantom = Some((rows, at.clone(), on_other));
                            }
                        }
                    }
                } else if open {
                    conn.execute_batch("ROLLBACK")
                        .unwrap_or_else(|e| panic!("{at}: ROLLBACK: {e}"));
                }
                full_disk::disarm();
                faults += u64::from(failed);
            }
            12..=13 => {
                let mode = *rng.pick(&["PASSIVE", "FULL", "RESTART", "TRUNCATE"]);
                let conn = *rng.pick(&[&writer, &other, &reader]);
                conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(()))
                    .unwrap_or_else(|e| panic!("{at}: checkpoint {mode}: {e}"));
            }
            14 => {
                drop(writer);
                writer = run.open_writer();
            }
            15..=16 => {
                copies += 1;
                let copy = run.copy(copies);
                assert_eq!(integrity(&copy), "ok", "{at}: the copy's integrity");
                let copied = seen(&copy, &at);
                match &phantom {
                    Some((rows, when, on_other)) if copied == *rows && copied != committed => {
                        eprintln!(
                            "{at}: the copy holds the transaction whose COMMIT failed at {when} \
                             (on the {} VFS)",
                            if *on_other { "unix" } else { "writer's" }
                        );
                        phantoms += 1;
                    }
                    _ => assert_eq!(copied, committed, "{at}: the copy"),
                }
            }
            _ => {
                assert_eq!(integrity(&reader), "ok", "{at}: integrity");
                let fresh = Connection::open(&run.db).unwrap();
                assert_eq!(seen(&fresh, &at), committed, "{at}: a fresh connection");
            }
        }
        assert_eq!(seen(&reader, &at), committed, "{at}: the reader");
        // Not always: what a rolled-back transaction spilled may stay held until another
        // connection has committed over where it was.
        if rng.chance(50) {
            assert_eq!(seen(&writer, &at), committed, "{at}: the writer");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let watched = watcher.join().unwrap();
    assert_eq!(watched, None, "seed {seed}: the reading thread");
    if phantoms > 0 {
        eprintln!("seed {seed}: {phantoms} copies held a failed COMMIT");
    }
    drop((writer, other, reader));
    let reopened = Connection::open(&run.db).unwrap();
    assert_eq!(integrity(&reopened), "ok", "seed {seed}: at the end");
    assert_eq!(
        seen(&reopened, &format!("seed {seed}: at the end")),
        committed,
        "seed {seed}: reopened at the end"
    );
    faults
}

#[test]
fn held_frames_keep_every_connection_and_copy_at_the_last_commit() {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let seeds: Vec<u64> = match env("WALVFS_SEEDS") {
        Some(n) => (1..=n).collect(),
        None => (1..=16).collect(),
    };
    let steps = env("WALVFS_STEPS").map_or(120, |n| usize::try_from(n).unwrap());
    let mut faults = 0;
    for seed in seeds {
        let (joined, writes) = (walvfs::joined(), walvfs::held_writes_here());
        faults += run(seed, steps);
        // The frames were held: fewer writes than frames (each write joins several).
        let (joined, writes) = (
            walvfs::joined() - joined,
            walvfs::held_writes_here() - writes,
        );
        assert!(
            writes < joined,
            "seed {seed}: {joined} frames joined in {writes} writes"
        );
    }
    // The full disk was met, and failed transactions' statements (not only checkpoints).
    let injected = full_disk::INJECTED.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{injected} writes failed, {faults} statements with them");
    assert!(
        faults > 0 && injected >= faults,
        "{injected} writes failed, {faults} statements"
    );
}

/// A one-row transaction whose `n`-th write fails, on `vfs`, with `synchronous = FULL` and
/// no power-safe overwrite (the commit frame is followed by padding to the sector's end):
/// whether the statement failed, the rows a live connection sees, and the rows a copy of
/// the files (recovered from the WAL alone, as after a crash) sees.
fn failing_commit(vfs: &std::ffi::CStr, n: u64) -> (bool, i64, i64) {
    full_disk::install();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let live = Connection::open(&db).unwrap();
    live.execute_batch(
        "PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB);",
    )
    .unwrap();
    assert!(walvfs::register());
    let writer = Connection::open_with_flags_and_vfs(
        format!("file:{}?psow=0", db.display()),
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI,
        vfs,
    )
    .unwrap();
    writer
        .execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0;
             INSERT INTO t (v) VALUES (randomblob(100));",
        )
        .unwrap();
    full_disk::arm(n);
    let failed = writer
        .execute("INSERT INTO t (v) VALUES (randomblob(100))", [])
        .is_err();
    full_disk::disarm();
    let to = dir.path().join("copy");
    std::fs::create_dir_all(&to).unwrap();
    std::fs::copy(&db, to.join("w.db")).unwrap();
    std::fs::copy(wal_of(&db), to.join("w.db-wal")).unwrap();
    let count = |c: &Connection| -> i64 {
        c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    };
    let copy = Connection::open(to.join("w.db")).unwrap();
    (failed, count(&live), count(&copy))
}

/// A COMMIT whose commit frame was written before a later write failed (the padding) is
/// reported failed and is not seen by live connections, yet the WAL file holds it, and
/// recovery from the files alone finds it until the next commit writes over it. SQLite's
/// own VFS does the same; the writer's VFS leaves no other outcome than it does.
#[test]
fn a_failing_commit_leaves_the_files_as_sqlites_own_vfs_does() {
    let outcomes = |vfs: &std::ffi::CStr| -> HashSet<(bool, i64, i64)> {
        (1..=8).map(|n| failing_commit(vfs, n)).collect()
    };
    let unix = outcomes(c"unix");
    let held = outcomes(walvfs::NAME);
    // Failed and gone; failed but in the WAL file; committed.
    let all = HashSet::from([(true, 1, 1), (true, 1, 2), (false, 2, 2)]);
    assert_eq!(unix, all, "SQLite's own VFS");
    assert_eq!(held, all, "the writer's VFS");
}

/// A failed write of held frames is reported on whatever call on the WAL came next. When
/// that is a read (SQLite reading back a spilled page) the statement fails with
/// SQLITE_FULL, which SQLite undoes with a statement rollback only (a statement journal,
/// `usesStmtJournal`), and the transaction goes on: SQLite still counts the spilled frames
/// as written (they precede the statement), `release` has dropped them, and the COMMIT
/// publishes frames that are not in the file. Without the VFS, the spill's own write fails,
/// `pagerStress` puts the pager in its error state and the whole transaction is rolled
/// back. Here the disk is full while a statement reads back what was spilled.
#[test]
fn a_held_write_failing_on_a_read_does_not_let_the_commit_through() {
    full_disk::install();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    let setup = Connection::open(&db).unwrap();
    setup
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL);
             INSERT INTO t (v) VALUES (randomblob(100));
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .unwrap();
    assert!(walvfs::register());
    let writer =
        Connection::open_with_flags_and_vfs(&db, OpenFlags::SQLITE_OPEN_READ_WRITE, walvfs::NAME)
            .unwrap();
    writer
        .execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA cache_size = 10;
             PRAGMA wal_autocheckpoint = 0;
             BEGIN;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60)
             INSERT INTO t (v) SELECT randomblob(3000) FROM n;",
        )
        .expect("a transaction that spills");
    full_disk::fill();
    let failed = writer.execute("UPDATE t SET v = v WHERE k > 1", []);
    assert!(full_disk::disarm(), "the disk was full for a write");
    eprintln!(
        "the statement: {failed:?}; transaction open: {}",
        !writer.is_autocommit()
    );
    assert!(failed.is_err(), "the statement met the full disk");
    if writer.is_autocommit() {
        return; // SQLite rolled the whole transaction back: nothing to publish.
    }
    let committed = writer.execute_batch("COMMIT");
    eprintln!("the commit: {committed:?}");
    if committed.is_err() {
        return;
    }
    // The commit went through: every row it published must be readable.
    let fresh = Connection::open(&db).unwrap();
    let seen: Result<(String, i64), _> = fresh
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .and_then(|v: String| {
            fresh
                .query_row("SELECT count(*) FROM t WHERE length(v) = 3000", [], |r| {
                    r.get(0)
                })
                .map(|n| (v, n))
        });
    assert_eq!(seen.map_err(|e| e.to_string()), Ok(("ok".to_owned(), 60)));
}
