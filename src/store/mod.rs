//! Storage: SQLite through sqlx. Migrations in migrations/ are embedded and applied at start.
//!
//! Functions take a connection or a transaction, so a handler decides what is atomic.
//! SQLite runs in WAL mode, and a write is acknowledged only once it is on disk: a
//! committed answer survives a crash of the process and of the machine. Writes go through
//! [`Store::write`] and [`Store::run`], which queue this process's writers fairly on one
//! connection and commit the transactions that queued up together, one fsync for all (see
//! `writer`): SQLite's own busy handler waits by sleeping (1, 2, 5, 10 … 100 ms), and one
//! fsync per request would cap answers at the disk's rate. The busy timeout remains for
//! other processes. The short reads of the login path run on the caller's thread
//! ([`Store::read_here`], see `direct`).
//!
//! Checkpoints (copying the WAL back into the database file, with an fsync of its own) run
//! in a task of their own every [`CHECKPOINT_EVERY`], not in whichever commit pushes the WAL
//! past SQLite's threshold: there they held up the writer, and every writer behind it, for
//! milliseconds. A checkpoint in WAL mode does not block writers. Under a steady load the
//! WAL would never start over (and grew by every page written, without end), so when it
//! has grown past 64 MiB, at most every [`WAL_RESTART_EVERY`], the writer copies the last
//! frames itself between two batches, which lets its next commit start the WAL over.

pub mod admin;
pub mod consents;
pub mod coupons;
pub mod detours;
pub mod direct;
pub mod history;
pub mod outbox;
pub mod pcache;
pub mod walvfs;
pub mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Sqlite, SqlitePool};
use time::OffsetDateTime;

use self::direct::{DirectError, Readers};
use self::writer::Writer;
pub use self::writer::{WriteTx, Writes};

/// Storage failures. Unique-key conflicts are told apart because callers act on them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key already exists (e.g. a replayed state).
    #[error("the record already exists")]
    Conflict,
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The prompt was finished already (by a concurrent request): nothing was written.
    #[error("the prompt is already finished")]
    Finished,
}

/// What the `prompts_finished_once` trigger aborts with.
const FINISHED_ONCE: &str = "interlude: the prompt is already finished";

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            sqlx::Error::Database(db) if db.message().contains(FINISHED_ONCE) => {
                StoreError::Finished
            }
            _ => StoreError::Database(e),
        }
    }
}

/// The connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// All writes of this process (group commit).
    writer: Writer,
    /// Reads of the login path, on the caller's thread (none for an in-memory database).
    readers: Option<Arc<Readers>>,
    /// Stops the checkpoint task when the last clone of the store is dropped.
    _checkpointer: Arc<Checkpointer>,
    /// What [`Store::run_unsynced`] wrote and is not on disk yet.
    unsynced: Arc<Unsynced>,
}

/// Keys of writes committed but maybe not yet on disk, each with its batch's number
/// ([`Writer::run_unsynced`]), in the order they were added (about the batches' order).
/// Those whose batch is on disk are dropped from the front as new ones come, so it holds
/// about a sync's worth of writes (a failed sync refuses new ones: nothing to hold).
#[derive(Debug, Default)]
struct Unsynced(std::sync::Mutex<std::collections::VecDeque<(u64, Box<str>)>>);

impl Unsynced {
    fn add(&self, number: u64, key: &str, synced: u64) {
        let mut keys = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while keys.front().is_some_and(|(n, _)| *n <= synced) {
            keys.pop_front();
        }
        keys.push_back((number, key.into()));
    }

    /// The batch that wrote `key`, if it may not be on disk yet. Looked for from the newest:
    /// a key is asked for a moment after it was added.
    fn batch(&self, key: &str) -> Option<u64> {
        let keys = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.iter()
            .rev()
            .find(|(_, k)| &**k == key)
            .map(|(n, _)| *n)
    }
}

/// How often the WAL is checkpointed. Each checkpoint writes the pages changed since the
/// last one into the database file and fsyncs it, and on ext4 a commit's fsync of the WAL
/// waits behind that: the commits during a checkpoint are the slow ones. A longer interval
/// means fewer such moments and fewer pages per login (a page changed by many logins is
/// written once); the WAL holds two seconds of writes. Measured (docs/benchmark.md, one
/// connection, 1 M history rows): every 0.5 s p99 1.6 to 4.1 ms and p99.9 6 to 12 ms; every
/// 2 s p99 1.6 to 1.8 ms and p99.9 3.9 ms.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);

/// The writer copies what is left of the WAL between two batches (see `checkpoint_loop`)
/// once the pooled checkpoints leave at most this many frames (4 MiB), or after four of them.
const WRITER_CHECKPOINT_FRAMES: i64 = 1024;

/// A WAL of this many frames (64 MiB of 4 KiB pages, as `WAL_SIZE_LIMIT`) is started over
/// by the writer (see `checkpoint_loop`); a shorter one starts over by itself when the
/// writes pause. The writer's checkpoint holds up the commits for 9 to 23 ms (its two
/// fsyncs, measured at 8,000 logins/s), so it is kept for the loads that need it: at most
/// once per [`WAL_RESTART_EVERY`], and at a few hundred logins per second only when no
/// pause came for long enough to write this much.
const WAL_RESTART_FRAMES: i64 = 16_384;

/// How often at most the writer starts the WAL over. The WAL then holds up to this long of
/// writes: 1.4 GB at the benchmark's 9,500 logins/s (about 15 KB each), 150 MB at 1,000.
/// Every 2 s (each checkpoint) the held-up commits showed at p99.9: 69 to 89 ms against 18
/// to 22 ms.
const WAL_RESTART_EVERY: Duration = Duration::from_secs(10);

/// The size the WAL file is cut back to when it is reused from its start after a burst
/// (`journal_size_limit`), so a peak does not keep its disk space.
const WAL_SIZE_LIMIT: &str = "67108864";

/// The writer's page cache, in KiB (`cache_size` takes a negative number as KiB): room for
/// the index pages that inserts touch, which readers' caches cannot keep (see `connect`).
const WRITER_CACHE_KIB: &str = "-65536";

/// The checkpoint task; aborted on drop.
#[derive(Debug)]
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Copies committed WAL frames into the database file, so the WAL stays short and is
/// reused from its start. First on a pooled connection (PASSIVE: as far as readers allow,
/// without waiting for anyone), beside the writer: most of the copying. Then, when the WAL
/// has grown long, on the writer's connection between two batches, for the frames
/// committed meanwhile: only then can the next commit start the WAL over under a steady
/// load (see [`Writer::checkpoint`]).
async fn checkpoint_loop(pool: SqlitePool, writer: Writer) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_restart = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let restart_due = last_restart.elapsed() >= WAL_RESTART_EVERY;
        let in_wal = checkpoint_passes(&pool, if restart_due { 4 } else { 1 }).await;
        // A short WAL is left to start over by itself, at a pause in the writes.
        if !restart_due || in_wal < WAL_RESTART_FRAMES {
            continue;
        }
        last_restart = tokio::time::Instant::now();
        let started = std::time::Instant::now();
        match writer.checkpoint().await {
            Ok(true) => metrics::histogram!("interlude_store_writer_checkpoint_seconds")
                .record(started.elapsed().as_secs_f64()),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint on the writer failed; the next one tries again");
            }
        }
    }
}

/// Checkpoints on a pooled connection, up to `most` times: each pass copies what was
/// committed during the one before, and passes are repeated while they have much to copy,
/// so the writer is left little. Returns the frames in the WAL (0 when a pass failed).
async fn checkpoint_passes(pool: &SqlitePool, most: usize) -> i64 {
    let mut copied_before = 0;
    for pass in 1..=most {
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(pool)
            .await
        {
            // A WAL started over meanwhile counts as little to copy.
            Ok((_, in_wal, copied)) => {
                let this_pass = copied - std::mem::replace(&mut copied_before, copied);
                if this_pass <= WRITER_CHECKPOINT_FRAMES || pass == most {
                    return in_wal;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; the next one tries again");
                return 0;
            }
        }
    }
    0
}

/// Milliseconds since the epoch.
pub fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The time of a millisecond timestamp.
pub fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Store {
    /// Opens (creating the file if needed) and migrates the database.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if !pcache::install() {
            tracing::debug!("SQLite was started before the store: its page cache is kept as it is");
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // The checkpointer below does it, off the writer's path.
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", WAL_SIZE_LIMIT);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // A ping per checkout is one more round trip to the connection's thread; a
            // broken connection fails its statement just as clearly.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        // The writer keeps its temporary data in memory: above all the savepoint journal of
        // its batches (each job runs in a savepoint), which otherwise spills to a temporary
        // file past 64 KiB and was 5 % of the CPU per login in writes to it. Its size is
        // bounded by a batch (the pages its jobs change). The readers keep the default, so
        // a large sort (an admin report over every prompt) may still spill to disk.
        //
        // Its page cache is larger than SQLite's default (2 MiB): a login inserts into
        // indexes keyed by random values (the state, the subject), whose pages past the
        // cache had to be read back from the OS for each insert (4 % of a login's CPU in
        // `pread`). The readers' caches are emptied by every commit of another connection
        // (WAL mode), so a larger one would not help them. (A commit no longer scans the
        // whole cache, see `pcache`, so its size costs nothing per commit.)
        //
        // On a database file it commits without waiting for the disk, and a thread of its
        // own syncs the WAL before the transactions are told they are committed (the
        // `Syncer` in `writer`): as durable as `synchronous = FULL`, without the writer
        // idling through each fsync. Every other connection keeps FULL.
        let file = options.get_filename().to_path_buf();
        let on_file = file.is_file();
        let mut writer_options = options
            .clone()
            .pragma("temp_store", "memory")
            .pragma("cache_size", WRITER_CACHE_KIB);
        if on_file {
            writer_options = writer_options.synchronous(SqliteSynchronous::Normal);
            // Each WAL frame in one write instead of two (see `walvfs`).
            if walvfs::register() {
                writer_options = writer_options.vfs(walvfs::NAME.to_string_lossy().into_owned());
            }
        }
        let mut writer_conn = writer_options.connect().await?;
        let wal = if on_file {
            // The WAL lies beside the database file as SQLite resolved it (a symbolic link
            // followed), which is not always the name in the URL.
            let main: String =
                sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                    .fetch_one(&mut writer_conn)
                    .await?;
            Some(std::path::PathBuf::from(format!("{main}-wal")))
        } else {
            None
        };
        let writer = Writer::new(writer_conn, wal).map_err(sqlx::Error::Io)?;
        let checkpointer = Arc::new(Checkpointer(tokio::spawn(checkpoint_loop(
            pool.clone(),
            writer.clone(),
        ))));
        let readers = on_file.then(|| Arc::new(Readers::new(file)));
        Ok(Store {
            pool,
            writer,
            readers,
            _checkpointer: checkpointer,
            unsynced: Arc::default(),
        })
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Runs a short, bounded read on the caller's thread (see `direct`). `None` when it
    /// cannot (an in-memory database, a busy one, or a failed read): the caller reads
    /// through the pool.
    pub fn read_here<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, rusqlite::Error>,
    ) -> Option<T> {
        match self.readers.as_ref()?.read(read) {
            Ok(v) => Some(v),
            Err(DirectError::Busy) => None,
            // The pool tries again, and reports the error if it is the database's.
            Err(DirectError::Sqlite(e)) => {
                tracing::warn!(error = %e, "a read on the request's thread failed; reading through the pool");
                None
            }
        }
    }

    /// A connection for reads and single statements.
    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<Sqlite>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// A write transaction, after the writers before it in this process. Its `commit()`
    /// returns once it is durably committed (with the transactions that queued meanwhile).
    pub async fn write(&self) -> Result<WriteTx, StoreError> {
        Ok(self.writer.begin().await?)
    }

    /// Runs statements prepared beforehand as one write transaction, holding the writer for
    /// one round trip; returns once they are durably committed.
    pub async fn run(&self, writes: Writes) -> Result<(), StoreError> {
        Ok(self.writer.run(writes).await?)
    }

    /// Runs statements prepared beforehand as one write transaction, and returns once they
    /// are committed (visible to every connection), maybe a moment before they are on disk:
    /// for writes of which the response shows nothing (a redirect). What then shows or acts
    /// on them waits with [`Store::synced`] and `key`, which names them.
    pub async fn run_unsynced(&self, writes: Writes, key: &str) -> Result<(), StoreError> {
        let number = self.writer.run_unsynced(writes).await?;
        self.unsynced.add(number, key, self.writer.synced_through());
        Ok(())
    }

    /// Returns once what [`Store::run_unsynced`] wrote under `key` is on disk: at once if it
    /// is, or if nothing was written under `key`.
    pub async fn synced(&self, key: &str) -> Result<(), StoreError> {
        match self.unsynced.batch(key) {
            Some(number) => Ok(self.writer.synced(number).await?),
            None => Ok(()),
        }
    }

    /// Returns once every write committed so far is on disk: a request that acts on a row
    /// another request wrote (a second POST of an answered prompt) waits here first, since
    /// that row is visible from its commit on, a moment before its sync.
    /// It joins the batch (as an empty transaction), so it also covers a row seen in the
    /// batch still open, through the writer (another answer found by a write that failed).
    pub async fn durable(&self) -> Result<(), StoreError> {
        Ok(self.writer.begin().await?.commit().await?)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes run unsynced are named by their key until their batch is on disk, and
    /// `synced` waits for that batch only: an unknown key (or one long on disk) waits for
    /// nothing.
    #[tokio::test]
    async fn unsynced_writes_are_named_until_their_batch_is_on_disk() {
        let unsynced = Unsynced::default();
        unsynced.add(3, "a", 0);
        unsynced.add(4, "b", 0);
        assert_eq!(unsynced.batch("a"), Some(3));
        assert_eq!(unsynced.batch("c"), None);
        unsynced.add(5, "c", 3);
        assert_eq!(
            unsynced.batch("a"),
            None,
            "batch 3 is on disk: its key is dropped"
        );
        assert_eq!(
            (unsynced.batch("b"), unsynced.batch("c")),
            (Some(4), Some(5))
        );

        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = Store::connect(&url).await.expect("a store");
        let mut w = Writes::default();
        w.defer("UPDATE prompts SET ip = NULL WHERE id = ?")
            .bind("none");
        store.run_unsynced(w, "k").await.expect("committed");
        let number = store
            .unsynced
            .batch("k")
            .expect("named until it is on disk");
        let wait = Duration::from_secs(5);
        tokio::time::timeout(wait, store.synced("k"))
            .await
            .expect("the sync comes")
            .expect("on disk");
        assert!(store.writer.synced_through() >= number);
        tokio::time::timeout(wait, store.synced("never written"))
            .await
            .expect("nothing to wait for")
            .expect("nothing to fail");
        tokio::time::timeout(wait, store.durable())
            .await
            .expect("an empty commit")
            .expect("on disk");
    }

    /// A row seen through the writer, in the batch still open (another transaction's,
    /// committed once the writers queued behind it are done), is not on disk before that
    /// batch is: `durable` joins the batch, and returns only after its sync.
    #[tokio::test]
    async fn durable_covers_a_row_seen_in_the_open_batch() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = Store::connect(&url).await.expect("a store");
        sqlx::query("CREATE TABLE t (k TEXT NOT NULL)")
            .execute(store.pool())
            .await
            .expect("a table");
        let mut a = store.write().await.expect("begin");
        a.defer("INSERT INTO t (k) VALUES (?)").bind("x");
        let queued = |store: &Store| {
            let store = store.clone();
            tokio::spawn(async move { store.write().await })
        };
        let c = queued(&store);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let a_commit = tokio::spawn(async move { a.commit().await });
        let mut c = c.await.expect("the task ran").expect("begin");
        let d = queued(&store);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let rows = c.fetch_with("SELECT k FROM t", |q| q).await.expect("read");
        assert_eq!(rows.len(), 1, "C sees A's row in the open batch");
        c.rollback().await.expect("rollback");
        let durable = tokio::spawn({
            let store = store.clone();
            async move { store.durable().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!durable.is_finished(), "it waits for the batch, behind D");
        d.await
            .expect("the task ran")
            .expect("begin")
            .rollback()
            .await
            .expect("rollback");
        durable.await.expect("the task ran").expect("durable");
        assert!(a_commit.is_finished(), "A's batch is committed and synced");
        let seen: Vec<String> = sqlx::query_scalar("SELECT k FROM t")
            .fetch_all(store.pool())
            .await
            .expect("rows");
        assert_eq!(seen, ["x"]);
    }

    /// The SQLite build and connection settings the write path's cost depends on: without
    /// them every malloc and page-cache fetch takes a global mutex, and the savepoint journal
    /// of each batch goes through a temporary file (the writer's setting only).
    #[tokio::test]
    async fn sqlite_runs_without_global_mutexes_and_keeps_temporary_data_in_memory() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = Store::connect(&url).await.expect("a store");
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(store.pool())
            .await
            .expect("the compile options");
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "built with memory statistics off (.cargo/config.toml): {options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "built without the shared page-cache group: {options:?}"
        );
        let mut tx = store.write().await.expect("a write transaction");
        let writer = tx.conn().await.expect("the writer");
        let on_writer = [
            pragma(writer, "PRAGMA temp_store").await,
            pragma(writer, "PRAGMA cache_size").await,
            pragma(writer, "PRAGMA synchronous").await,
        ];
        tx.rollback().await.expect("a rollback");
        assert_eq!(
            on_writer,
            [Some(2), Some(-65536), Some(1)],
            "the writer keeps temporary data in memory, has a 64 MiB page cache and commits \
             without syncing (its syncer does)"
        );
        let mut reader = store.conn().await.expect("a reader");
        assert_eq!(
            pragma(&mut reader, "PRAGMA temp_store").await,
            Some(0),
            "readers keep the default"
        );
        assert_eq!(
            pragma(&mut reader, "PRAGMA synchronous").await,
            Some(2),
            "every other connection syncs each commit"
        );
    }

    /// Opened through a symbolic link, the store syncs the WAL that SQLite writes (beside
    /// the file the link points to): a WAL file the syncer cannot find fails the commit.
    #[tokio::test]
    async fn a_database_behind_a_symbolic_link_syncs_the_real_wal() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::create_dir(dir.path().join("real")).expect("a folder");
        let real = dir.path().join("real").join("s.db");
        std::fs::File::create(&real).expect("a database file");
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&real, &link).expect("a symbolic link");
        let store = Store::connect(&format!("sqlite://{}", link.display()))
            .await
            .expect("a store");
        let mut w = Writes::default();
        w.defer(
            "INSERT INTO consent_texts (sha256, text, campaign, campaign_version, locale, created_at)
             VALUES ('h', 't', 'c', 1, 'en', 0)",
        );
        store.run(w).await.expect("committed and synced");
        store.durable().await.expect("on disk");
        assert!(dir.path().join("real").join("s.db-wal").is_file());
        assert!(!dir.path().join("link.db-wal").exists());
    }

    /// A copy of the database `name` in `dir` and its WAL as they are on disk now (what a
    /// crash of the process leaves), opened: SQLite recovers the WAL on opening it.
    fn as_a_crash_leaves_it(dir: &std::path::Path, name: &str) -> rusqlite::Connection {
        let copy = dir.join("copy");
        std::fs::create_dir(&copy).expect("a folder");
        for file in [name.to_owned(), format!("{name}-wal")] {
            std::fs::copy(dir.join(&file), copy.join(&file)).expect("a copy");
        }
        rusqlite::Connection::open(copy.join(name)).expect("the copy")
    }

    /// The writer's WAL frames are written whole, each in one piece (`walvfs`): a copy of
    /// the database and its WAL taken while the store is open (as a crash leaves them)
    /// recovers every committed row and passes SQLite's integrity check.
    #[tokio::test]
    async fn the_wal_written_a_frame_at_a_time_recovers_every_commit() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = Store::connect(&url).await.expect("a store");
        let joined_before = walvfs::joined();
        let writes = (0..300).map(|n| {
            let store = store.clone();
            async move {
                let mut w = Writes::default();
                w.defer(
                    "INSERT INTO consent_texts (sha256, text, campaign, campaign_version, locale, created_at)
                     VALUES (?, ?, 'c', 1, 'en', 0)",
                )
                .bind(format!("h{n:03}"))
                .bind("t".repeat(n * 7));
                store.run(w).await
            }
        });
        for r in futures::future::join_all(writes).await {
            r.expect("committed and synced");
        }
        assert!(
            walvfs::joined() > joined_before,
            "the writer's frames went through the VFS"
        );
        let recovered = as_a_crash_leaves_it(dir.path(), "s.db");
        let verdict: String = recovered
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .expect("an integrity check");
        assert_eq!(verdict, "ok");
        let (rows, bytes): (i64, i64) = recovered
            .query_row(
                "SELECT count(*), sum(length(text)) FROM consent_texts WHERE sha256 LIKE 'h%'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("the rows");
        assert_eq!((rows, bytes), (300, (0..300).map(|n| n * 7).sum::<i64>()));
    }

    /// A transaction that writes a page twice after it spilled makes SQLite rewrite its
    /// frames' headers in place at the commit, the commit frame's last, with no other call
    /// on the WAL after it. Such a header must reach the file at once: a copy of the files
    /// taken right after the commit (what a crash leaves) recovers the transaction.
    #[test]
    fn headers_rewritten_at_the_commit_reach_the_file_at_once() {
        use rusqlite::{Connection, OpenFlags};
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = dir.path().join("r.db");
        let setup = Connection::open(&db).expect("a database");
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB);",
            )
            .expect("a table");
        assert!(walvfs::register());
        let rewritten_before = walvfs::rewritten();
        let writer = Connection::open_with_flags_and_vfs(
            &db,
            OpenFlags::SQLITE_OPEN_READ_WRITE,
            walvfs::NAME,
        )
        .expect("the writer");
        writer
            .execute_batch(
                "PRAGMA synchronous = NORMAL;
                 PRAGMA cache_size = 20;
                 PRAGMA wal_autocheckpoint = 0;
                 INSERT INTO t (v) VALUES (randomblob(100));
                 BEGIN;",
            )
            .expect("a first commit, then a transaction");
        for _ in 0..2000 {
            writer
                .execute("INSERT INTO t (v) VALUES (randomblob(900))", [])
                .expect("a row");
        }
        writer
            .execute_batch(
                "UPDATE t SET v = randomblob(900) WHERE k < 50;
                 COMMIT;",
            )
            .expect("pages written twice, and the commit");
        assert!(
            walvfs::rewritten() > rewritten_before,
            "SQLite rewrote frame headers in place"
        );
        let rows: i64 = as_a_crash_leaves_it(dir.path(), "r.db")
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .expect("the rows");
        assert_eq!(rows, 2001, "every committed row is in the files");
        drop(setup);
    }

    /// The frames of a commit reach the WAL in a few writes of up to 124 KiB, not two per
    /// frame; a transaction longer than what is held back is written in pieces before its
    /// commit. Both recover whole from a copy of the files taken right after the commit.
    #[test]
    fn the_frames_of_a_commit_are_written_together() {
        use rusqlite::{Connection, OpenFlags};
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = dir.path().join("w.db");
        let setup = Connection::open(&db).expect("a database");
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB);",
            )
            .expect("a table");
        assert!(walvfs::register());
        let writer = Connection::open_with_flags_and_vfs(
            &db,
            OpenFlags::SQLITE_OPEN_READ_WRITE,
            walvfs::NAME,
        )
        .expect("the writer");
        writer
            .execute_batch(
                "PRAGMA synchronous = OFF;
                 PRAGMA cache_size = -65536;
                 PRAGMA wal_autocheckpoint = 0;",
            )
            .expect("settings");
        let frames = |c: &Connection| -> i64 {
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
                .expect("the WAL's frames")
        };
        // About 100 frames: 412 KB, four writes at most.
        let (frames_before, writes_before) = (frames(&setup), walvfs::held_writes_here());
        writer
            .execute_batch(
                "BEGIN;
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
                 INSERT INTO t (v) SELECT randomblob(3000) FROM n;
                 COMMIT;",
            )
            .expect("a commit of about 100 pages");
        let written = frames(&setup) - frames_before;
        let writes = walvfs::held_writes_here() - writes_before;
        assert!(written >= 100, "{written} frames");
        assert!(
            (1..=4).contains(&writes),
            "{written} frames in {writes} writes"
        );
        // About 2,600 frames (10.7 MB): held back 4 MiB at a time, in writes of 124 KiB.
        let writes_before = walvfs::held_writes_here();
        writer
            .execute_batch(
                "BEGIN;
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2600)
                 INSERT INTO t (v) SELECT randomblob(3000) FROM n;
                 COMMIT;",
            )
            .expect("a commit larger than what is held back");
        let writes = walvfs::held_writes_here() - writes_before;
        assert!((87..=100).contains(&writes), "{writes} writes");
        let recovered = as_a_crash_leaves_it(dir.path(), "w.db");
        let verdict: String = recovered
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .expect("an integrity check");
        assert_eq!(verdict, "ok");
        let (rows, bytes): (i64, i64) = recovered
            .query_row("SELECT count(*), sum(length(v)) FROM t", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .expect("the rows");
        assert_eq!((rows, bytes), (2700, 2700 * 3000));
        drop(setup);
    }

    /// The status CHECK of `prompts`, rewritten from an IN list to equalities (no temporary
    /// b-tree per insert): a database with prompts of every status migrates, keeps them and
    /// passes SQLite's checks, refuses an unknown status as before, and an insert no
    /// longer opens a temporary b-tree.
    #[tokio::test]
    async fn the_status_check_is_rewritten_without_its_in_list() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let pool = migrated_to(&url, 20261203000001).await;
        let insert = |id: &'static str, status: &'static str| {
            sqlx::query(
                "INSERT INTO prompts (id, detour_id, seq, campaign, campaign_version, subject,
                     issuer, status, locale, csrf_token, browser_hash, shown_at, expires_at)
                 VALUES (?, 'd1', (SELECT count(*) FROM prompts), 'c', 1,
                     'auth0|u', 'https://a.test/', ?, 'en', 't', 'h', 1, 2)",
            )
            .bind(id)
            .bind(status)
        };
        sqlx::query(
            "INSERT INTO detours (id, issuer, state, subject, claims, continue_url, created_at,
                 expires_at, browser_hash)
             VALUES ('d1', 'https://a.test/', 's1', 'auth0|u', '{}', 'https://a.test/continue',
                 1, 2, 'h')",
        )
        .execute(&pool)
        .await
        .expect("a detour");
        let statuses = ["pending", "completed", "skipped", "declined", "expired"];
        for (id, status) in ["p1", "p2", "p3", "p4", "p5"].into_iter().zip(statuses) {
            insert(id, status).execute(&pool).await.expect("a prompt");
        }
        assert!(
            uses_a_temporary_btree(&pool, 1).await,
            "before: the IN list's b-tree"
        );
        pool.close().await;

        let store = Store::connect(&url).await.expect("migrated");
        let pool = store.pool();
        let kept: Vec<String> = sqlx::query_scalar("SELECT status FROM prompts ORDER BY seq")
            .fetch_all(pool)
            .await
            .expect("the prompts");
        assert_eq!(kept, statuses);
        let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(pool)
            .await
            .expect("an integrity check");
        assert_eq!(verdict, "ok");
        let refused = insert("p6", "maybe").execute(pool).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("CHECK constraint failed")),
            "{refused:?}"
        );
        for (id, status) in ["p7", "p8"].into_iter().zip(["pending", "expired"]) {
            insert(id, status).execute(pool).await.expect("a prompt");
        }
        assert!(!uses_a_temporary_btree(pool, 3).await, "after: equalities");
    }

    /// A one-connection pool on a new database at `url`, migrated up to `version`.
    async fn migrated_to(url: &str, version: i64) -> SqlitePool {
        let options = SqliteConnectOptions::from_str(url)
            .expect("options")
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("a pool");
        sqlx::migrate!("./migrations")
            .run_to(version, &pool)
            .await
            .expect("the migrations up to the one under test");
        pool
    }

    /// Whether inserting a prompt builds a temporary b-tree (`OpenEphemeral`) on any of
    /// `connections` held at once (the idle ones first: the migration's among them).
    async fn uses_a_temporary_btree(pool: &SqlitePool, connections: usize) -> bool {
        let mut held = Vec::new();
        let mut any = false;
        for _ in 0..connections {
            let mut conn = pool.acquire().await.expect("a connection");
            let program = sqlx::query(
                "EXPLAIN INSERT INTO prompts (id, detour_id, seq, campaign, campaign_version,
                     subject, issuer, status, locale, csrf_token, browser_hash, shown_at,
                     expires_at)
                 VALUES ('x', 'd1', 9, 'c', 1, 'auth0|u', 'https://a.test/', 'pending', 'en',
                     't', 'h', 1, 2)",
            )
            .fetch_all(&mut *conn)
            .await
            .expect("the insert's program");
            any |= program
                .iter()
                .any(|row| sqlx::Row::get::<String, _>(row, "opcode") == "OpenEphemeral");
            held.push(conn);
        }
        any
    }

    /// Frames spilled by a transaction that is then rolled back must not stay held: another
    /// connection then commits frames at the same offsets, and the writer's next call on
    /// the WAL would write the stale frames over them.
    #[test]
    fn a_rolled_back_spill_is_not_written_over_another_commit() {
        for rows in [12, 20, 50, 100] {
            rolled_back_spill(rows);
        }
    }

    fn rolled_back_spill(rows: i64) {
        use rusqlite::{Connection, OpenFlags};
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = dir.path().join("r.db");
        let other = Connection::open(&db).expect("a database");
        other
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB);
                 INSERT INTO t (v) VALUES (randomblob(100));
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )
            .expect("a table");
        assert!(walvfs::register());
        let writer = Connection::open_with_flags_and_vfs(
            &db,
            OpenFlags::SQLITE_OPEN_READ_WRITE,
            walvfs::NAME,
        )
        .expect("the writer");
        writer
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA cache_size = 10; PRAGMA wal_autocheckpoint = 0;")
            .expect("settings");
        let wal = dir.path().join("r.db-wal");
        let size_before = std::fs::metadata(&wal).expect("the WAL").len();
        // A transaction that spills (a 10-page cache), then is rolled back.
        writer.execute("BEGIN", []).expect("begin");
        writer
            .execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 INSERT INTO t (v) SELECT randomblob(3000) FROM n",
                [rows],
            )
            .expect("a spilling insert");
        writer.execute_batch("ROLLBACK").expect("rolled back");
        let size_after = std::fs::metadata(&wal).expect("the WAL").len();
        eprintln!(
            "{rows} rows: WAL size before {size_before}, after the rolled-back spill {size_after}"
        );
        // Another connection commits: its frames take the offsets of the rolled-back ones.
        other
            .execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
                 INSERT INTO t (v) SELECT zeroblob(2000) FROM n;",
            )
            .expect("the other commit");
        let ok = |c: &Connection| -> (String, i64) {
            (
                c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
                    .unwrap_or_else(|e| e.to_string()),
                c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                    .unwrap_or(-1),
            )
        };
        assert_eq!(
            ok(&other),
            ("ok".to_owned(), 51),
            "before the writer touches the WAL"
        );
        // The writer reads: its first call on the WAL writes what it held.
        let seen = ok(&writer);
        let after = ok(&other);
        let fresh = Connection::open(&db).expect("a fresh connection");
        let recovered = ok(&fresh);
        assert_eq!(
            (seen.clone(), after.clone(), recovered.clone()),
            (
                ("ok".to_owned(), 51),
                ("ok".to_owned(), 51),
                ("ok".to_owned(), 51)
            ),
        );
    }

    /// With `synchronous = FULL` and no power-safe overwrite, SQLite pads a commit
    /// to the sector with copies of its last frame, and syncs mid-frame; when the part
    /// after the sync may be 24 bytes, which must not be taken for a new frame's header and
    /// held while the commit (padding frames included) is published.
    #[test]
    fn a_padding_remainder_is_not_held() {
        use rusqlite::{Connection, OpenFlags};
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = dir.path().join("p.db");
        let setup = Connection::open(&db).expect("a database");
        setup
            .execute_batch(
                "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL;
                 CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT);
                 INSERT INTO t VALUES (1, 'x');",
            )
            .expect("a table");
        assert!(walvfs::register());
        let writer = Connection::open_with_flags_and_vfs(
            format!("file:{}?psow=0", db.display()),
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI,
            walvfs::NAME,
        )
        .expect("the writer");
        writer
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0;")
            .expect("settings");
        let reader = Connection::open(&db).expect("a reader");
        for n in 0..400 {
            writer
                .execute("UPDATE t SET v = ?1 WHERE k = 1", [format!("value {n}")])
                .expect("a commit");
            let seen: Result<String, _> =
                reader.query_row("SELECT v FROM t WHERE k = 1", [], |r| r.get(0));
            assert_eq!(
                seen.map_err(|e| e.to_string()),
                Ok(format!("value {n}")),
                "commit {n}"
            );
        }
    }

    /// After a padding frame's page is split at the sync point, `frame` is set
    /// from the first part's length (walvfs.rs, the join branch), so the geometry is wrong
    /// from then on, and a later 24-byte remainder of a split padding frame is taken for a
    /// new frame's header and held while SQLite publishes the commit. With the exclusive
    /// locking mode no shm lock follows a commit, so what is held shows as a WAL that is
    /// not a whole number of frames once the commit has returned.
    #[test]
    fn a_padding_remainder_is_not_held_after_a_split_page() {
        use rusqlite::{Connection, OpenFlags};
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = dir.path().join("p.db");
        let setup = Connection::open(&db).expect("a database");
        setup
            .execute_batch(
                "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL;
                 CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT);
                 INSERT INTO t VALUES (1, 'x');
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )
            .expect("a table");
        drop(setup);
        assert!(walvfs::register());
        let writer = Connection::open_with_flags_and_vfs(
            format!("file:{}?psow=0", db.display()),
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI,
            walvfs::NAME,
        )
        .expect("the writer");
        writer
            .execute_batch(
                "PRAGMA locking_mode = EXCLUSIVE; PRAGMA synchronous = FULL;
                 PRAGMA wal_autocheckpoint = 0;",
            )
            .expect("settings");
        let wal = dir.path().join("p.db-wal");
        let frame = 1024 + 24;
        for n in 0..3000 {
            writer
                .execute("UPDATE t SET v = ?1 WHERE k = 1", [format!("value {n}")])
                .expect("a commit");
            let len = std::fs::metadata(&wal).expect("the WAL").len();
            assert_eq!(
                (len - 32) % frame,
                0,
                "commit {n}: the WAL is {len} bytes, {} short of its last frame's end",
                frame - (len - 32) % frame
            );
        }
    }

    /// The same in the normal locking mode: between SQLite publishing a
    /// commit (walIndexWriteHdr) and its release of the write lock, a reader reads the
    /// last padding frame without the 24 bytes held back. The window is widened here by a
    /// second (attached, rollback-journal) database committed in the same transaction:
    /// its phase one (journal writes and syncs) runs after the main database's.
    #[test]
    fn a_reader_never_sees_a_page_whose_tail_is_held() {
        use rusqlite::{Connection, OpenFlags};
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = dir.path().join("p.db");
        let setup = Connection::open(&db).expect("a database");
        setup
            .execute_batch(
                "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL;
                 CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT);
                 INSERT INTO t VALUES (1, 'value -1');
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )
            .expect("a table");
        drop(setup);
        Connection::open(dir.path().join("aux.db"))
            .and_then(|c| {
                c.execute_batch(
                    "CREATE TABLE u (k INTEGER PRIMARY KEY, v TEXT); INSERT INTO u VALUES (1, '');",
                )
            })
            .expect("an attached database");
        assert!(walvfs::register());
        let writer = Connection::open_with_flags_and_vfs(
            format!("file:{}?psow=0", db.display()),
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI,
            walvfs::NAME,
        )
        .expect("the writer");
        writer
            .execute_batch(&format!(
                "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0;
                 ATTACH '{}' AS aux; PRAGMA aux.synchronous = FULL;",
                dir.path().join("aux.db").display()
            ))
            .expect("settings");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let reader = {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let reader = Connection::open(&db).expect("a reader");
                let mut bad = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let seen: Result<String, _> =
                        reader.query_row("SELECT v FROM t WHERE k = 1", [], |r| r.get(0));
                    match seen {
                        Ok(v) if v.starts_with("value ") => {}
                        other => bad.push(format!("{other:?}")),
                    }
                }
                bad
            })
        };
        for n in 0..700 {
            writer
                .execute_batch(&format!(
                    "BEGIN; UPDATE t SET v = 'value {n}' WHERE k = 1;
                     UPDATE aux.u SET v = '{n}' WHERE k = 1; COMMIT;"
                ))
                .expect("a commit");
        }
        stop.store(true, Ordering::Relaxed);
        let bad = reader.join().expect("the reader");
        assert!(
            bad.is_empty(),
            "the reader saw {} bad reads: {:?}",
            bad.len(),
            &bad[..bad.len().min(5)]
        );
    }

    /// The unique keys of `detours`, by the columns they cover.
    async fn detours_unique_keys(pool: &SqlitePool) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT (SELECT group_concat(name, ',') FROM pragma_index_info(l.name))
             FROM pragma_index_list('detours') AS l WHERE l.\"unique\" = 1 ORDER BY 1",
        )
        .fetch_all(pool)
        .await
        .expect("the unique keys")
    }

    /// Every column of every detour, in one string per row.
    async fn detour_rows(pool: &SqlitePool) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT json_array(id, issuer, state, subject, claims, continue_url, created_at,
                    expires_at, finished_at, result, browser_hash, ip, user_agent, secret_index)
             FROM detours ORDER BY id",
        )
        .fetch_all(pool)
        .await
        .expect("the detours")
    }

    /// The rebuild of `detours` without its redundant UNIQUE (issuer, state) keeps every
    /// row, every prompt's link to its detour, and the state's single use.
    #[tokio::test]
    async fn the_detours_rebuild_keeps_rows_links_and_the_state_key() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let pool = migrated_to(&url, 20261202000001).await;
        for (id, issuer, state, finished) in [
            ("d1", "https://a.test/", "s1", None),
            ("d2", "https://b.test/", "s2", Some(5)),
            ("d3", "https://a.test/", "s3", None),
        ] {
            sqlx::query(
                "INSERT INTO detours (id, issuer, state, subject, claims, continue_url,
                     created_at, expires_at, finished_at, result, browser_hash, ip, user_agent,
                     secret_index)
                 VALUES (?, ?, ?, 'auth0|u', '{\"sub\":\"auth0|u\"}', 'https://a.test/continue',
                     1, 2, ?, ?, 'h', ?, 'agent', ?)",
            )
            .bind(id)
            .bind(issuer)
            .bind(state)
            .bind(finished)
            .bind(finished.map(|_| "{\"outcome\":\"none\"}"))
            .bind(finished.map(|_| "10.0.0.1"))
            .bind(i64::from(finished.is_some()))
            .execute(&pool)
            .await
            .expect("a detour");
        }
        for (id, detour) in [("p1", "d1"), ("p2", "d1"), ("p3", "d3")] {
            sqlx::query(
                "INSERT INTO prompts (id, detour_id, seq, campaign, campaign_version, subject,
                     issuer, status, locale, csrf_token, browser_hash, shown_at, expires_at)
                 VALUES (?, ?, (SELECT count(*) FROM prompts WHERE detour_id = ?), 'c', 1,
                     'auth0|u', 'https://a.test/', 'pending', 'en', 't', 'h', 1, 2)",
            )
            .bind(id)
            .bind(detour)
            .bind(detour)
            .execute(&pool)
            .await
            .expect("a prompt");
        }
        let rows = detour_rows(&pool).await;
        assert_eq!(
            detours_unique_keys(&pool).await,
            ["id", "issuer,state", "state"],
            "before: the state is a unique key twice"
        );
        pool.close().await;

        let store = Store::connect(&url).await.expect("migrated");
        let mut conn = store
            .conn()
            .await
            .expect("the migration's connection, back in the pool");
        assert_eq!(
            [
                pragma(&mut conn, "PRAGMA foreign_keys").await,
                pragma(&mut conn, "PRAGMA cache_size").await
            ],
            [Some(1), Some(-2000)],
            "foreign keys on again, the default page cache"
        );
        drop(conn);
        assert_eq!(detours_unique_keys(store.pool()).await, ["id", "state"]);
        assert_eq!(
            detour_rows(store.pool()).await,
            rows,
            "every column of every row"
        );
        let orphans: Vec<String> =
            sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_check")
                .fetch_all(store.pool())
                .await
                .expect("the foreign key check");
        assert!(orphans.is_empty(), "{orphans:?}");
        let linked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM prompts JOIN detours ON detours.id = prompts.detour_id",
        )
        .fetch_one(store.pool())
        .await
        .expect("the join");
        assert_eq!(linked, 3);
        for issuer in ["https://a.test/", "https://c.test/"] {
            let mut w = Writes::default();
            w.defer(
                "INSERT INTO detours (id, issuer, state, subject, claims, continue_url,
                     created_at, expires_at, browser_hash)
                 VALUES ('d9', ?, 's1', 'auth0|u', '{}', 'https://a.test/continue', 1, 2, 'h')",
            )
            .bind(issuer);
            assert!(
                matches!(store.run(w).await, Err(StoreError::Conflict)),
                "a used state is refused, from {issuer} too"
            );
        }
        let mut w = Writes::default();
        w.defer(
            "INSERT INTO prompts (id, detour_id, seq, campaign, campaign_version, subject,
                 issuer, status, locale, csrf_token, browser_hash, shown_at, expires_at)
             VALUES ('p9', 'nowhere', 0, 'c', 1, 'auth0|u', 'https://a.test/', 'pending',
                 'en', 't', 'h', 1, 2)",
        );
        assert!(
            store.run(w).await.is_err(),
            "a prompt still needs its detour (the foreign key holds on the new table)"
        );
    }

    async fn pragma(conn: &mut sqlx::SqliteConnection, sql: &'static str) -> Option<i64> {
        sqlx::query_scalar(sql).fetch_one(conn).await.ok()
    }
}
