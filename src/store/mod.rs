//! Storage: SQLite through sqlx. Migrations in migrations/ are embedded and applied at start.
//!
//! Functions take a connection or a transaction, so a handler decides what is atomic.
//! SQLite runs in WAL mode with `synchronous = FULL`: a committed answer survives a crash
//! of the process and of the machine. Write transactions begin IMMEDIATE so concurrent
//! writers queue on the busy timeout instead of failing to upgrade a read lock. Within one
//! process, writers first take their turn in a fair queue ([`Store::write`]): SQLite's busy
//! handler waits by sleeping (1, 2, 5, 10 … 100 ms), which under load turns a 1 ms write
//! into tail latencies of a second; the busy timeout remains for other processes.

pub mod admin;
pub mod consents;
pub mod coupons;
pub mod detours;
pub mod history;
pub mod outbox;

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use time::OffsetDateTime;
use tokio::sync::{Mutex, OwnedMutexGuard};

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
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => StoreError::Database(e),
        }
    }
}

/// The connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// The writers' queue (first come, first served).
    writers: Arc<Mutex<()>>,
}

/// A write transaction that holds this process's turn to write until it commits or drops.
/// It derefs to the connection, as `Transaction` does.
#[derive(Debug)]
pub struct WriteTx {
    // Dropped first: an uncommitted transaction is rolled back before the turn passes on.
    tx: Transaction<'static, Sqlite>,
    _turn: OwnedMutexGuard<()>,
}

impl WriteTx {
    /// Commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Rolls back.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
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
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store {
            pool,
            writers: Arc::new(Mutex::new(())),
        })
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A connection for reads and single statements.
    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<Sqlite>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// A write transaction (BEGIN IMMEDIATE), after the writers before it in this process.
    pub async fn write(&self) -> Result<WriteTx, StoreError> {
        let turn = Arc::clone(&self.writers).lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx { tx, _turn: turn })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
