//! Reads on the caller's thread, for the short, bounded reads of the login and answer path
//! (the user's history, a prompt by id, a detour's steps).
//!
//! sqlx runs each SQLite connection on a thread of its own and answers through channels: a
//! statement costs two thread wake-ups, and checking a connection out of the pool and back
//! in costs more. Profiles of GET /prompt on this project's 2-core machine put those
//! switches at about a quarter of the server's CPU, more than SQLite's own work for the
//! history read. These connections are opened with rusqlite on the same bundled SQLite and
//! run the statement right where it is asked for, which suits a read that takes tens of
//! microseconds: an indexed lookup with a written LIMIT. Anything that may scan (admin
//! reports, exports) stays on the pool.
//!
//! They read only (`query_only`), in WAL mode, so they never wait for the writer. A reader
//! that finds the database busy (another process recovering the WAL, say) does not wait on
//! the caller's thread: [`Readers::read`] says so and the caller reads through the pool,
//! as it does after any other failure here. (SQLite itself may still retry a WAL read lock
//! for a moment, without a busy handler; that is rare and short.)

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection};

use super::detours::{self, PromptRow, Steps};
use super::{Store, StoreError, history};
use crate::rules::{History, HistoryParts};

/// Why a direct read did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// The database was locked or busy: read through the pool instead, which may wait.
    #[error("the database is busy")]
    Busy,
    /// The read failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Read connections used on the caller's thread; idle ones are kept for reuse.
#[derive(Debug)]
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// Most idle connections kept: one per core is what can run at once; a few more cover
/// blocking threads.
const MAX_IDLE: usize = 8;

/// SQLite's statement cache per connection (the login path has a handful of statements).
const STATEMENTS: usize = 16;

impl Readers {
    /// Readers of the database file at `path` (which must exist and be in WAL mode).
    pub fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // No busy handler: a busy database is the pool's to wait for, not this thread's.
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.pragma_update(None, "query_only", true)?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS);
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one), here, on the caller's thread.
    pub fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, DirectError> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match taken {
            Some(conn) => conn,
            None => self.open().map_err(classify)?,
        };
        let result = read(&conn).map_err(classify);
        // A connection whose read failed for any reason but a busy database is dropped: it
        // may be the connection that is broken.
        if matches!(result, Ok(_) | Err(DirectError::Busy))
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
        result
    }
}

fn classify(e: rusqlite::Error) -> DirectError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            DirectError::Busy
        }
        _ => DirectError::Sqlite(e),
    }
}

/// The reads of one request on the login or answer path: each runs on the caller's thread
/// when it can ([`Store::read_here`]), else through a pooled connection that is checked out
/// when first needed and kept for the request's other statements (most logins need none).
pub struct Reads<'a> {
    store: &'a Store,
    conn: Option<PoolConnection<Sqlite>>,
}

impl<'a> Reads<'a> {
    /// No connection checked out yet.
    pub fn new(store: &'a Store) -> Reads<'a> {
        Reads { store, conn: None }
    }

    /// The pooled connection, for the statements that only run there.
    pub async fn conn(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.store.conn().await?,
        };
        Ok(&mut **self.conn.insert(conn))
    }

    /// `here` on the caller's thread, or `pool` on the pooled connection when it cannot.
    async fn either<T>(
        &mut self,
        here: impl FnOnce(&Store) -> Option<Result<T, StoreError>>,
        pool: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match here(self.store) {
            Some(read) => read,
            None => pool(self.conn().await?).await,
        }
    }

    /// The user's history at this tenant (`parts` of it).
    pub async fn history(
        &mut self,
        issuer: &str,
        subject: &str,
        parts: HistoryParts,
    ) -> Result<History, StoreError> {
        self.either(
            |store| history::load_here(store, issuer, subject, parts),
            async |conn| history::load(conn, issuer, subject, parts).await,
        )
        .await
    }

    /// A prompt by id.
    pub async fn prompt(&mut self, id: &str) -> Result<Option<PromptRow>, StoreError> {
        self.either(
            |store| detours::get_prompt_here(store, id).map(Ok),
            async |conn| detours::get_prompt(conn, id).await,
        )
        .await
    }

    /// A detour's answered steps.
    pub async fn detour_steps(&mut self, detour_id: &str) -> Result<Steps, StoreError> {
        self.either(
            |store| detours::detour_steps_here(store, detour_id).map(Ok),
            async |conn| detours::detour_steps(conn, detour_id).await,
        )
        .await
    }
}
