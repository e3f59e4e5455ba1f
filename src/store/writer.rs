//! Group commit: every write transaction of this process runs on one connection, and the
//! transactions that queue up while one runs share its durable commit.
//!
//! With `synchronous = FULL` each COMMIT waits for the disk (an fsync of the WAL), and only
//! one connection can hold SQLite's write lock, so one transaction per request caps writes
//! at one fsync each, whatever the number of cores. Here a write transaction is a SAVEPOINT
//! inside a batch transaction (BEGIN IMMEDIATE … COMMIT). Its `commit()` releases the
//! savepoint and returns once the batch is committed, so it returns only when its data is on
//! disk, as before; the batch commits as soon as no other writer is waiting, or when
//! [`MAX_BATCH`] transactions have joined it. A transaction dropped without commit (or whose
//! statement failed) is rolled back to its savepoint and leaves the batch unharmed; should
//! SQLite roll back the whole batch, every transaction in it is told its commit failed.
//! Readers on other connections only ever see committed batches.
//!
//! The steps that change the batch (begin, release, commit) run in tasks of their own, so a
//! request that is cancelled half-way (a client that hangs up) cannot leave it half-done.
//!
//! Each statement sent through sqlx is a round trip to the connection's thread (about
//! 20 µs, two thread wake-ups, and a wake-up per row coming back), and the writer is one
//! connection that every write queues for. Transactions prepared whole beforehand
//! ([`Writes`], [`Writer::run`]) therefore queue as jobs, and the writer's thread runs the
//! jobs waiting, their batch's BEGIN and its COMMIT itself, through the connection's own
//! handle (`Here`). A job runs without a savepoint of its own, and one that fails is undone
//! alone all the same: its batch is run again, carefully (`State::replay_here`). An
//! interactive transaction ([`Writer::begin`], for the few writes that must read first)
//! sends as few statements as it can: its savepoint opens with its first statements, and
//! statements whose results are not needed ([`WriteTx::defer`]) wait and go with the next
//! statement that is, or with the RELEASE at commit.
//!
//! On a database file the writer commits without waiting for the disk and a thread of its
//! own (`Syncer`) fsyncs the WAL before the batch's transactions are told: the writer
//! runs the next batch meanwhile.
//!
//! The writer's own steps run on a runtime of their own (one thread): a task of the main
//! runtime woken by a database answer waits behind every other ready task there, and here
//! the writer's turn would wait with it, and every writer queued behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use sqlx::sqlite::{LockedSqliteHandle, SqliteArguments, SqliteRow};
use sqlx::{Arguments, AssertSqlSafe, SqliteConnection};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

/// Most write transactions committed together: bounds how long the first of them waits.
pub const MAX_BATCH: usize = 64;

/// Most jobs taken from the queue at once (more are taken as these are done).
const MAX_SEND: usize = 32;

/// Batches run again since the process started (see [`State::replay_here`]).
static REPLAYS: AtomicU64 = AtomicU64::new(0);

/// How many batches were run again because a job failed half-way, for tests.
pub fn replays() -> u64 {
    REPLAYS.load(Ordering::Relaxed)
}

/// The writer connection and its batch.
#[derive(Debug)]
struct Batch {
    /// The connection as rusqlite sees it, for the jobs, which run on the writer's thread
    /// ([`Batch::run_here`]). Declared before `conn`: fields drop in order, so its prepared
    /// statements are finalized before sqlx closes the connection.
    here: Option<Here>,
    conn: SqliteConnection,
    state: State,
}

/// Where the batch stands.
#[derive(Debug, Default)]
struct State {
    /// A batch transaction is open.
    open: bool,
    /// A write transaction ended uncommitted: its savepoint is undone before anything else.
    abandoned: bool,
    /// Transactions released into the open batch, waiting for its commit to be durable.
    waiters: Vec<Waiter>,
    /// Jobs in the open batch whose callers wait only for its commit ([`Writer::run_unsynced`]).
    visible: Vec<Waiter>,
    /// Jobs that ran in the open batch without a savepoint of their own, kept whole until
    /// it ends: should one fail half-way, the batch is run again ([`State::replay_here`]).
    unsaved: Vec<Job>,
    /// Transactions that took their turn in the open batch, failed ones included: what
    /// [`MAX_BATCH`] counts, so a stream of failing jobs cannot keep the batch (and the
    /// writers queued for it) waiting.
    joined: usize,
    /// Makes committed batches durable, when the writer commits without waiting for the
    /// disk (a database file; see [`Syncer`]).
    syncer: Option<Syncer>,
    /// The batches' numbers, and how far they are durable.
    progress: Arc<Progress>,
}

/// How far the batches are durable. Each batch that commits transactions takes the next
/// number just before its COMMIT, so a row another connection can see belongs to a batch
/// numbered at most `committing` (read after the row). `synced` holds the number of the
/// last batch that is on disk (or whose commit failed, leaving nothing to sync), moved on
/// in order by the syncer, or by the writer when the commit itself syncs.
#[derive(Debug)]
struct Progress {
    committing: AtomicU64,
    synced: tokio::sync::watch::Sender<Synced>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            committing: AtomicU64::new(0),
            synced: tokio::sync::watch::Sender::new(Synced::default()),
        }
    }
}

/// The last batch on disk, and why none will be after it.
#[derive(Debug, Clone, Default)]
struct Synced {
    through: u64,
    failed: Option<String>,
}

impl Progress {
    /// Moves `synced` on to `number`, or records why it stops.
    fn synced(&self, number: u64, result: &Result<(), String>) {
        self.synced.send_modify(|synced| match result {
            Ok(()) => synced.through = synced.through.max(number),
            Err(e) => {
                synced.failed.get_or_insert_with(|| e.clone());
            }
        });
    }
}

/// Durability off the writer's path: the writer commits without waiting for the disk
/// (`synchronous = NORMAL` on its connection: the commit's WAL frames are written, not yet
/// synced) and hands the batch's transactions here. This thread fsyncs the WAL file once
/// for every batch committed since its last sync, then tells their transactions; their
/// `commit()` returns only then, so what a caller is told is committed is on disk as with
/// `synchronous = FULL`. Meanwhile the writer runs the next batch: with FULL it sat idle
/// for each fsync, and every login queued behind it (20 % of the logins per second on this
/// project's 2-core machine, docs/benchmark.md).
///
/// Rows of a batch that is committed but not yet synced are visible to other connections
/// for that moment; a power failure (not a crash of the process: its writes are in the
/// OS) may take them back. A request that finds such a row (a second POST of an answered
/// prompt) waits for the sync before it answers ([`super::Store::durable`]).
///
/// The WAL file is the one SQLite writes (its path as SQLite resolved it, symbolic links
/// followed), opened once and kept: while the writer's connection is open the file is never
/// deleted, only truncated. A sync that fails is final: the batch is reported as not made
/// durable, and so is every later one (after a failed writeback the kernel may have dropped
/// the pages, and a later sync that succeeds would prove nothing about them), until the
/// process is restarted and SQLite recovers the WAL.
#[derive(Debug, Clone)]
struct Syncer {
    batches: std::sync::mpsc::Sender<Committed>,
    progress: Arc<Progress>,
}

/// A batch handed to the syncer: who waits for it, when its COMMIT began, its number, and
/// whether it committed (a failed one only moves the numbers on, in order).
type Committed = (Vec<Waiter>, std::time::Instant, u64, bool);

impl Syncer {
    /// Starts the syncing thread for the WAL file at `wal`; it ends when the last writer
    /// is dropped.
    fn start(wal: std::path::PathBuf, progress: Arc<Progress>) -> std::io::Result<Syncer> {
        let (batches, committed) = std::sync::mpsc::channel::<Committed>();
        let told = Arc::clone(&progress);
        std::thread::Builder::new()
            .name("interlude-sync".into())
            .spawn(move || {
                // However the thread ends, nobody waits for a sync that will not come.
                let _stopped = Stopped(Arc::clone(&told));
                let mut file: Option<std::fs::File> = None;
                let mut failed: Option<String> = None;
                while let Ok(first) = committed.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(committed.try_iter());
                    let last = waiting.iter().map(|batch| batch.2).max().unwrap_or(0);
                    let result = match &failed {
                        Some(e) => Err(e.clone()),
                        None if !waiting.iter().any(|batch| batch.3) => Ok(()),
                        None => sync_file(&wal, &mut file).map_err(|e| {
                            let e = format!(
                                "the fsync of the WAL ({}) failed: {e}; writes are refused \
                                 until Interlude is restarted",
                                wal.display()
                            );
                            tracing::error!(error = %e, "the database could not be synced");
                            failed = Some(e.clone());
                            e
                        }),
                    };
                    told.synced(last, &result);
                    for (waiters, started, number, _) in waiting {
                        metrics::histogram!("interlude_store_commit_seconds")
                            .record(started.elapsed().as_secs_f64());
                        for waiter in waiters {
                            let _ =
                                waiter.send(result.clone().map(|()| number).map_err(not_durable));
                        }
                    }
                }
            })?;
        Ok(Syncer { batches, progress })
    }

    /// Tells `waiters` once batch `number` (which they were committed in, if `committed`)
    /// is on disk.
    fn sync(
        &self,
        waiters: Vec<Waiter>,
        started: std::time::Instant,
        number: u64,
        committed: bool,
    ) {
        if let Err(std::sync::mpsc::SendError((waiters, ..))) =
            self.batches.send((waiters, started, number, committed))
        {
            let stopped = "the syncing thread stopped".to_owned();
            self.progress.synced(number, &Err(stopped.clone()));
            for waiter in waiters {
                let _ = waiter.send(Err(not_durable(stopped.clone())));
            }
        }
    }
}

/// Marks the syncer as stopped when its thread ends (or unwinds).
struct Stopped(Arc<Progress>);

impl Drop for Stopped {
    fn drop(&mut self) {
        self.0
            .synced(u64::MAX, &Err("the syncing thread stopped".into()));
    }
}

/// Flushes the WAL file's data to the disk, opening it the first time.
fn sync_file(path: &std::path::Path, file: &mut Option<std::fs::File>) -> std::io::Result<()> {
    let file = match file {
        Some(file) => file,
        None => file.insert(std::fs::OpenOptions::new().read(true).open(path)?),
    };
    file.sync_data()
}

fn not_durable(message: String) -> sqlx::Error {
    sqlx::Error::Protocol(format!(
        "the write was committed but could not be made durable: {message}"
    ))
}

/// sqlx's connection handle, wrapped by rusqlite so that statements run on this thread.
///
/// sqlx runs a SQLite connection on a thread of its own: each statement is sent there and
/// each row comes back through a channel, waking the writer's thread every time (in the
/// profile of a login, a tenth of the CPU went to those sends and wake-ups). Holding
/// sqlx's lock on the handle (`lock_handle`, one round trip) stops that thread from using
/// the connection, and the jobs of a whole batch, its BEGIN and its COMMIT then run right
/// here. The wrapper is reachable only through [`Here::get`], which takes the lock as proof.
struct Here(rusqlite::Connection);

impl std::fmt::Debug for Here {
    // rusqlite's own Debug reads the file name through the handle, which sqlx's thread may
    // be using: say nothing that needs it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Here")
    }
}

/// Statements the jobs' connection keeps prepared (every statement a job may hold, and
/// the batch's own).
const HERE_STATEMENTS: usize = 64;

impl Here {
    /// The connection, while `locked` keeps sqlx's thread away from it.
    fn get<'a>(
        here: &'a mut Option<Here>,
        locked: &'a mut LockedSqliteHandle<'_>,
    ) -> Result<&'a rusqlite::Connection, rusqlite::Error> {
        if here.is_none() {
            let raw = locked.as_raw_handle();
            // SAFETY: the handle is sqlx's open connection, which lives as long as the
            // `Batch` that holds both it and this wrapper (dropped first, see `Batch`).
            // rusqlite does not close a handle it did not open, and the wrapper is used only
            // while sqlx's lock on the handle is held (the `locked` borrow), so no two
            // threads ever use the connection at once. One exception: dropped with the
            // `Batch`, the wrapper finalizes its prepared statements without the lock. By
            // then no writer, job or task can reach the connection (the last `Writer` is
            // gone), and sqlx's thread only waits for its next command, the close.
            let conn = unsafe { rusqlite::Connection::from_handle(raw.as_ptr()) }?;
            conn.set_prepared_statement_cache_capacity(HERE_STATEMENTS);
            *here = Some(Here(conn));
        }
        match here {
            Some(Here(conn)) => Ok(conn),
            None => Err(rusqlite::Error::InvalidQuery),
        }
    }
}

/// Told how the batch holding a transaction ended, and its number.
type Waiter = oneshot::Sender<Result<u64, sqlx::Error>>;

/// A write transaction prepared whole, and who waits for its commit (to be durable, unless
/// `unsynced`).
#[derive(Debug)]
struct Job {
    writes: Pending,
    done: Waiter,
    unsynced: bool,
}

/// The writer of a store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Writer {
    batch: Arc<Mutex<Batch>>,
    /// Tasks waiting for a turn: while any are, the batch stays open for them.
    queued: Arc<AtomicUsize>,
    /// Jobs for the writer's loop.
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    /// The writer's runtime.
    runtime: Arc<WriterRuntime>,
    /// The batches' numbers, and how far they are durable.
    progress: Arc<Progress>,
}

/// A single-threaded runtime on a thread of its own, stopped when the last writer is dropped.
#[derive(Debug)]
struct WriterRuntime {
    handle: tokio::runtime::Handle,
    _stop: oneshot::Sender<()>,
}

impl WriterRuntime {
    fn start() -> std::io::Result<WriterRuntime> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("interlude-writer".into())
            .spawn(move || {
                let _ = runtime.block_on(stopped);
            })?;
        Ok(WriterRuntime {
            handle,
            _stop: stop,
        })
    }
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(conn).await.map(|_| ())
}

impl State {
    /// Tells every transaction waiting on the batch how it ended.
    fn notify(&mut self, result: &Result<u64, String>) {
        self.seal();
        for waiter in self.waiters.drain(..).chain(self.visible.drain(..)) {
            let _ = waiter.send(result.clone().map_err(not_committed));
        }
    }

    /// Whether the batch is to be committed now: it is open, and no other writer is waiting
    /// to join it or it is full. If so, it counts as closed from here on.
    fn closing(&mut self, queued: &AtomicUsize) -> bool {
        if !self.open || (queued.load(Ordering::SeqCst) > 0 && self.joined < MAX_BATCH) {
            return false;
        }
        self.open = false;
        self.joined = 0;
        true
    }

    /// Hands the jobs that ran without a savepoint over to the waiters of the batch's end.
    fn seal(&mut self) {
        for job in self.unsaved.drain(..) {
            if job.unsynced {
                self.visible.push(job.done);
            } else {
                self.waiters.push(job.done);
            }
        }
    }

    /// What ends a closing batch, and its number: nothing to keep is rolled back (and
    /// takes no number, 0).
    fn ending(&mut self) -> (&'static str, u64) {
        self.seal();
        if self.waiters.is_empty() && self.visible.is_empty() {
            ("ROLLBACK", 0)
        } else {
            (
                "COMMIT",
                self.progress.committing.fetch_add(1, Ordering::SeqCst) + 1,
            )
        }
    }

    /// Records how batch `number`'s commit went and tells its transactions: those that wait
    /// only for the commit now, the others once it is durable.
    fn settled(&mut self, result: Result<(), String>, started: std::time::Instant, number: u64) {
        let joined = self.waiters.len() + self.visible.len();
        if joined == 0 {
            return;
        }
        metrics::histogram!("interlude_store_batch_transactions").record(joined as f64);
        match (&result, &self.syncer) {
            (Ok(()), Some(syncer)) => {
                // After a failed sync nothing is reported done, not even a commit alone.
                let failed = self.progress.synced.borrow().failed.clone();
                for waiter in self.visible.drain(..) {
                    let _ = waiter.send(match &failed {
                        Some(e) => Err(not_durable(e.clone())),
                        None => Ok(number),
                    });
                }
                syncer.sync(std::mem::take(&mut self.waiters), started, number, true);
            }
            (Err(e), Some(syncer)) => {
                // The numbers move on in order; the batch's transactions are told now.
                syncer.sync(Vec::new(), started, number, false);
                self.notify(&Err(e.clone()));
            }
            (_, None) => {
                metrics::histogram!("interlude_store_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
                self.notify(&result.clone().map(|()| number));
                // The commit synced as it returned, or failed and left nothing to sync.
                self.progress.synced(number, &Ok(()));
            }
        }
    }

    /// The batch was rolled back as a whole: its transactions learn their commit failed.
    fn lost(&mut self) {
        self.open = false;
        self.joined = 0;
        self.notify(&Err("the batch transaction was rolled back".into()));
    }
}

impl Batch {
    /// Whether SQLite still has the batch transaction open (`BEGIN` fails inside one).
    async fn still_open(&mut self) -> bool {
        match exec(&mut self.conn, "BEGIN").await {
            Ok(()) => {
                let _ = exec(&mut self.conn, "ROLLBACK").await;
                false
            }
            Err(_) => true,
        }
    }

    /// Undoes an abandoned transaction's savepoint. Should the batch itself be gone (SQLite
    /// rolls a whole transaction back on some errors), its waiters learn their commit failed.
    async fn undo_abandoned(&mut self) {
        if !std::mem::take(&mut self.state.abandoned) || !self.state.open {
            return;
        }
        let mut undone = exec(&mut self.conn, "ROLLBACK TO write_tx").await;
        if undone.is_ok() {
            undone = exec(&mut self.conn, "RELEASE write_tx").await;
        }
        if undone.is_err() {
            // The abandoned writes cannot be undone alone: nothing of the batch may commit.
            if self.still_open().await {
                let _ = exec(&mut self.conn, "ROLLBACK").await;
            }
            self.state.lost();
        }
    }

    /// Opens a batch if none is (the transaction's savepoint opens with its first statement).
    async fn start(&mut self) -> Result<(), sqlx::Error> {
        self.undo_abandoned().await;
        if !self.state.open {
            if exec(&mut self.conn, "BEGIN IMMEDIATE").await.is_err() {
                // A transaction nobody waits for (none can be, the batch being closed) is
                // in the way: roll it back and try once more.
                let _ = exec(&mut self.conn, "ROLLBACK").await;
                exec(&mut self.conn, "BEGIN IMMEDIATE").await?;
            }
            self.state.open = true;
        }
        Ok(())
    }

    /// Commits the batch when no other writer is waiting to join it, or when it is full.
    async fn settle(&mut self, queued: &AtomicUsize) {
        if !self.state.closing(queued) {
            return;
        }
        let started = std::time::Instant::now();
        let (ending, number) = self.state.ending();
        let result = exec(&mut self.conn, ending).await;
        if result.is_err() {
            // A COMMIT that failed may leave the transaction open.
            let _ = exec(&mut self.conn, "ROLLBACK").await;
        }
        self.state
            .settled(result.map_err(|e| e.to_string()), started, number);
    }

    /// Runs `jobs`, and those that arrive meanwhile, on this thread through the
    /// connection's own handle ([`Here`]): the batch's BEGIN, each job (a job that fails is
    /// undone alone, see `State::run_job_here`), and the COMMIT when no other writer waits.
    async fn run_here(
        &mut self,
        jobs: &mut Vec<Job>,
        queue: &mut tokio::sync::mpsc::UnboundedReceiver<Job>,
        queued: &AtomicUsize,
    ) {
        let Batch { here, conn, state } = self;
        let mut locked = match conn.lock_handle().await {
            Ok(locked) => locked,
            Err(e) => return fail_all(jobs, &e.to_string()),
        };
        let db = match Here::get(here, &mut locked) {
            Ok(db) => db,
            Err(e) => return fail_all(jobs, &e.to_string()),
        };
        loop {
            for job in jobs.drain(..) {
                match state.start_here(db) {
                    Ok(()) => state.run_job_here(db, job),
                    Err(e) => {
                        let _ = job.done.send(Err(here_error(e)));
                    }
                }
            }
            if state.joined >= MAX_BATCH {
                break;
            }
            while jobs.len() < MAX_SEND {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            if jobs.is_empty() {
                break;
            }
        }
        if state.closing(queued) {
            let started = std::time::Instant::now();
            let (ending, number) = state.ending();
            let result = exec_here(db, ending);
            if result.is_err() && !db.is_autocommit() {
                let _ = exec_here(db, "ROLLBACK");
            }
            state.settled(result.map_err(|e| e.to_string()), started, number);
        }
    }
}

impl State {
    /// [`Batch::start`] on the writer's thread.
    fn start_here(&mut self, db: &rusqlite::Connection) -> Result<(), rusqlite::Error> {
        if std::mem::take(&mut self.abandoned) && self.open {
            let undone = exec_here(db, "ROLLBACK TO write_tx")
                .and_then(|()| exec_here(db, "RELEASE write_tx"));
            if undone.is_err() {
                // As in `Batch::undo_abandoned`: nothing of the batch may commit then.
                if !db.is_autocommit() {
                    let _ = exec_here(db, "ROLLBACK");
                }
                self.lost();
            }
        }
        if !self.open {
            if exec_here(db, "BEGIN IMMEDIATE").is_err() {
                // As in `Batch::start`.
                let _ = exec_here(db, "ROLLBACK");
                exec_here(db, "BEGIN IMMEDIATE")?;
            }
            self.open = true;
        }
        Ok(())
    }

    /// Runs one job in the open batch. Without a savepoint first: a savepoint copies every
    /// page the job changes into its journal (4.3 % of a login's CPU, docs/benchmark.md),
    /// and jobs seldom fail. A job that fails is undone alone all the same, by running the
    /// batch again, carefully ([`State::replay_here`]): the batch then holds nothing else
    /// than jobs it can run again, since a job runs unsaved only while the batch has no
    /// waiter of any other kind. Once it has one (an interactive transaction committed into
    /// it, which cannot be run again, or a job run again after a failure), its jobs each
    /// take a savepoint. (An interactive transaction holds the writer's turn from its first
    /// statement to its end, so no job runs beside its uncommitted writes.)
    fn run_job_here(&mut self, db: &rusqlite::Connection, job: Job) {
        self.joined += 1;
        if !self.waiters.is_empty() || !self.visible.is_empty() {
            return self.run_saved_here(db, job);
        }
        match job.writes.run_here(db) {
            Ok(()) => self.unsaved.push(job),
            Err(_) => self.replay_here(db, job),
        }
    }

    /// A job that ran without a savepoint failed, and what it wrote before the failing
    /// statement (or SQLite, rolling back the whole transaction) cannot be undone alone.
    /// The batch holds only such jobs (see `run_job_here`), so it is rolled back and begun
    /// again, and its jobs run again, each in a savepoint of its own, in the same order,
    /// the failed one last: each is told what it would have been told with a savepoint all
    /// along. (Two exceptions make a job fail that need not have: another process taking
    /// the write lock between the ROLLBACK and the BEGIN, which no other process does
    /// here, and a statement whose result depends on the moment it runs.) The jobs run
    /// again are waiters of the batch, so the rest of it takes savepoints too; should none
    /// of them have succeeded, the batch holds nothing to lose and may run unsaved again.
    fn replay_here(&mut self, db: &rusqlite::Connection, failed: Job) {
        REPLAYS.fetch_add(1, Ordering::Relaxed);
        if !db.is_autocommit() {
            let _ = exec_here(db, "ROLLBACK");
        }
        self.open = false;
        let jobs = std::mem::take(&mut self.unsaved);
        for job in jobs.into_iter().chain(std::iter::once(failed)) {
            match self.start_here(db) {
                Ok(()) => self.run_saved_here(db, job),
                Err(e) => {
                    let _ = job.done.send(Err(here_error(e)));
                }
            }
        }
    }

    /// Runs one job in a savepoint of the open batch; failed, it is undone alone and told.
    fn run_saved_here(&mut self, db: &rusqlite::Connection, job: Job) {
        let ran = exec_here(db, "SAVEPOINT write_tx")
            .and_then(|()| job.writes.run_here(db))
            .and_then(|()| exec_here(db, "RELEASE write_tx"));
        match ran {
            Ok(()) if job.unsynced => self.visible.push(job.done),
            Ok(()) => self.waiters.push(job.done),
            Err(e) => {
                self.abandoned = true;
                if let Err(undo) = self.start_here(db) {
                    // The batch could not be opened again: the next job tries once more.
                    tracing::warn!(error = %undo, "the writer could not begin a batch");
                }
                let _ = job.done.send(Err(here_error(e)));
            }
        }
    }
}

/// Runs a statement without arguments on the writer's thread, to its end.
fn exec_here(db: &rusqlite::Connection, sql: &'static str) -> Result<(), rusqlite::Error> {
    run_to_end(&mut *db.prepare_cached(sql)?)
}

/// Steps a bound statement until it is done, rows (if any) unread.
fn run_to_end(statement: &mut rusqlite::Statement<'_>) -> Result<(), rusqlite::Error> {
    let mut rows = statement.raw_query();
    while rows.next()?.is_some() {}
    Ok(())
}

/// Tells every job it was not committed.
fn fail_all(jobs: &mut Vec<Job>, message: &str) {
    for job in jobs.drain(..) {
        let _ = job.done.send(Err(not_committed(message.to_owned())));
    }
}

/// A failure of a statement run through [`Here`], as the sqlx error the writer's callers
/// act on: a unique-key conflict is still told apart, and the message is SQLite's own.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct HereError {
    message: String,
    unique: bool,
    #[source]
    source: rusqlite::Error,
}

impl sqlx::error::DatabaseError for HereError {
    fn message(&self) -> &str {
        &self.message
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        if self.unique {
            sqlx::error::ErrorKind::UniqueViolation
        } else {
            sqlx::error::ErrorKind::Other
        }
    }
}

fn here_error(e: rusqlite::Error) -> sqlx::Error {
    let unique = matches!(
        &e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    );
    let message = match &e {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        other => other.to_string(),
    };
    sqlx::Error::Database(Box::new(HereError {
        message,
        unique,
        source: e,
    }))
}

/// A turn at the writer. Dropped before its transaction ended (committed or rolled back),
/// the transaction is marked abandoned, if its savepoint was opened, and a task makes sure
/// the batch is still settled.
#[derive(Debug)]
struct Turn {
    batch: OwnedMutexGuard<Batch>,
    writer: Writer,
    /// The savepoint was sent (so it may be open).
    in_transaction: bool,
    /// The turn holds a transaction that has not ended.
    unfinished: bool,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.in_transaction {
            self.batch.state.abandoned = true;
        }
        if self.unfinished {
            self.batch.state.joined += 1;
            self.writer.spawn_settle();
        }
    }
}

/// Counts a task as queued until it has its turn; given up while queued, it makes sure
/// someone still settles the batch that waited for it.
struct Queued {
    writer: Writer,
    served: bool,
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.writer.queued.fetch_sub(1, Ordering::SeqCst);
        if !self.served {
            self.writer.spawn_settle();
        }
    }
}

impl Writer {
    /// The writer over `conn`, a connection of its own. With `wal`, the database's WAL
    /// file, `conn` commits without syncing (`synchronous = NORMAL`) and a `Syncer`
    /// makes each batch durable before its transactions are told; without, each commit
    /// syncs as `conn` is set to.
    pub fn new(conn: SqliteConnection, wal: Option<std::path::PathBuf>) -> std::io::Result<Writer> {
        let (jobs, queue) = tokio::sync::mpsc::unbounded_channel();
        let progress = Arc::new(Progress::default());
        let syncer = wal
            .map(|wal| Syncer::start(wal, Arc::clone(&progress)))
            .transpose()?;
        let writer = Writer {
            batch: Arc::new(Mutex::new(Batch {
                here: None,
                conn,
                state: State {
                    syncer,
                    progress: Arc::clone(&progress),
                    ..State::default()
                },
            })),
            queued: Arc::new(AtomicUsize::new(0)),
            jobs,
            runtime: Arc::new(WriterRuntime::start()?),
            progress,
        };
        // The loop holds no sender, so it ends when the last writer is dropped.
        let looping = Writer {
            jobs: tokio::sync::mpsc::unbounded_channel().0,
            ..writer.clone()
        };
        writer.spawn(looping.job_loop(queue));
        Ok(writer)
    }

    /// Takes the jobs as they come, and runs those waiting together in one batch, which
    /// stays open while more wait (up to [`MAX_BATCH`]).
    async fn job_loop(self, mut queue: tokio::sync::mpsc::UnboundedReceiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_SEND);
        while queue.recv_many(&mut jobs, MAX_SEND).await > 0 {
            let mut turn = self.turn().await;
            // An interactive transaction abandoned before is undone first, so that the
            // batch never commits its writes, even should the handle not be had below.
            turn.batch.undo_abandoned().await;
            turn.batch
                .run_here(&mut jobs, &mut queue, &self.queued)
                .await;
            // Settled there already, unless the handle could not be had: then the batch,
            // which may hold interactive transactions waiting, is settled through sqlx.
            turn.batch.settle(&self.queued).await;
            drop(turn);
            // The tasks of interactive transactions run on this runtime too: they get to
            // queue for the next turn before this loop takes it again (its own steps are
            // all ready at once while jobs keep coming, so it would not yield otherwise).
            tokio::task::yield_now().await;
        }
    }

    fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.handle.spawn(task)
    }

    /// Runs `writes` as one write transaction (queued as a job, sent with the jobs waiting
    /// beside it); returns once it is durably committed.
    pub async fn run(&self, writes: Writes) -> Result<(), sqlx::Error> {
        self.queue(writes, false).await.map(|_| ())
    }

    /// Runs `writes` as [`Writer::run`] does, but returns as soon as they are committed
    /// (visible to every connection), maybe a moment before they are on disk, with the
    /// number of their batch: [`Writer::synced`] waits for it.
    pub async fn run_unsynced(&self, writes: Writes) -> Result<u64, sqlx::Error> {
        self.queue(writes, true).await
    }

    async fn queue(&self, writes: Writes, unsynced: bool) -> Result<u64, sqlx::Error> {
        if writes.0.is_empty() {
            return Ok(0);
        }
        let (done, committed) = oneshot::channel();
        self.jobs
            .send(Job {
                writes: writes.0,
                done,
                unsynced,
            })
            .map_err(|_| stopped())?;
        committed.await.map_err(|_| stopped())?
    }

    /// The number of the last batch on disk.
    pub fn synced_through(&self) -> u64 {
        self.progress.synced.borrow().through
    }

    /// Returns once batch `number` is on disk (at once if it is).
    pub async fn synced(&self, number: u64) -> Result<(), sqlx::Error> {
        let mut synced = self.progress.synced.subscribe();
        let reached = synced
            .wait_for(|s| s.through >= number || s.failed.is_some())
            .await
            .map_err(|_| stopped())?;
        match &reached.failed {
            Some(e) if reached.through < number => Err(not_durable(e.clone())),
            _ => Ok(()),
        }
    }

    /// Undoes a transaction whose statement failed, settles the batch, and hands back the error.
    async fn abandon<T>(&self, mut turn: Turn, e: sqlx::Error) -> Result<T, sqlx::Error> {
        turn.in_transaction = false;
        turn.batch.state.abandoned = true;
        turn.batch.state.joined += 1;
        turn.batch.undo_abandoned().await;
        turn.batch.settle(&self.queued).await;
        Err(e)
    }

    async fn turn(&self) -> Turn {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut queued = Queued {
            writer: self.clone(),
            served: false,
        };
        let batch = Arc::clone(&self.batch).lock_owned().await;
        queued.served = true;
        Turn {
            batch,
            writer: self.clone(),
            in_transaction: false,
            unfinished: false,
        }
    }

    /// Begins a write transaction: a savepoint in the open batch, or in a new one.
    pub async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        let writer = self.clone();
        let (give, take) = oneshot::channel();
        self.spawn(async move {
            let mut turn = writer.turn().await;
            match turn.batch.start().await {
                Ok(()) => {
                    turn.unfinished = true;
                    // If the caller is gone, the turn comes back and is dropped (abandoned).
                    let _ = give.send(Ok(turn));
                }
                Err(e) => {
                    turn.batch.settle(&writer.queued).await;
                    let _ = give.send(Err(e));
                }
            }
        });
        match take.await {
            Ok(Ok(turn)) => Ok(WriteTx {
                turn,
                pending: Writes::default(),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(stopped()),
        }
    }

    /// Checkpoints the WAL on the writer's connection, between two batches: the frames
    /// committed since the last checkpoint are copied into the database file while no
    /// batch runs. Returns whether it ran (not while a batch is open: it tries again at the
    /// next call).
    ///
    /// Why the writer: SQLite starts the WAL over from its beginning only at a write
    /// transaction that began when every committed frame was already copied back, and no
    /// reader still reads from the WAL. A checkpoint on another connection runs beside the
    /// writer, which commits more frames meanwhile; under a steady load that moment never
    /// came, and the WAL grew by every page written (140 MB/s at 9,500 logins/s, without
    /// end). Here no frame is committed between this checkpoint and the next batch, whose
    /// commit then starts the WAL over. It does not take a turn in the queue, so a batch
    /// does not stay open for it.
    pub async fn checkpoint(&self) -> Result<bool, sqlx::Error> {
        let batch = Arc::clone(&self.batch);
        self.spawn(async move {
            let mut batch = batch.lock_owned().await;
            if batch.state.open || batch.state.abandoned {
                return Ok(false);
            }
            exec(&mut batch.conn, "PRAGMA wal_checkpoint(PASSIVE)")
                .await
                .map(|()| true)
        })
        .await
        .map_err(|_| stopped())?
    }

    /// Takes a turn only to undo what was abandoned and settle the batch.
    fn spawn_settle(&self) {
        let writer = self.clone();
        self.spawn(async move {
            let mut turn = writer.turn().await;
            turn.batch.undo_abandoned().await;
            turn.batch.settle(&writer.queued).await;
        });
    }
}

fn stopped() -> sqlx::Error {
    sqlx::Error::Protocol("the write was not committed: the writer stopped".into())
}

/// An argument of a statement not yet sent.
#[derive(Debug, Clone)]
pub enum Arg {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A text.
    Text(String),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<u32> for Arg {
    fn from(v: u32) -> Self {
        Arg::Int(i64::from(v))
    }
}

impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(v.clone())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}

impl<T: Into<Arg>> From<Option<T>> for Arg {
    fn from(v: Option<T>) -> Self {
        v.map_or(Arg::Null, Into::into)
    }
}

/// Statements not yet sent, with their arguments in order.
#[derive(Debug, Default)]
struct Pending {
    /// Each statement and where its arguments start in `args`.
    statements: Vec<(&'static str, usize)>,
    args: Vec<Arg>,
}

impl Pending {
    /// Adds a statement; its arguments are the ones pushed after it.
    fn push(&mut self, sql: &'static str) {
        self.statements.push((sql, self.args.len()));
    }

    fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The statements as one text, for sqlx to send in one round trip.
    fn joined(&self) -> String {
        let mut sql = String::new();
        for (statement, _) in &self.statements {
            sql.push_str(statement);
            sql.push_str(";\n");
        }
        sql
    }

    /// Runs the deferred statements in order, on the writer's thread (see [`Here`]).
    fn run_here(&self, db: &rusqlite::Connection) -> Result<(), rusqlite::Error> {
        for (n, &(sql, from)) in self.statements.iter().enumerate() {
            let to = self
                .statements
                .get(n + 1)
                .map_or(self.args.len(), |&(_, next)| next);
            let mut statement = db.prepare_cached(sql)?;
            for (i, arg) in self
                .args
                .get(from..to)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                match arg {
                    Arg::Null => statement.raw_bind_parameter(i + 1, rusqlite::types::Null)?,
                    Arg::Int(v) => statement.raw_bind_parameter(i + 1, v)?,
                    Arg::Text(v) => statement.raw_bind_parameter(i + 1, v)?,
                }
            }
            run_to_end(&mut statement)?;
        }
        Ok(())
    }

    /// The statements with the savepoint released last (if it is open or opens with them).
    fn released(mut self, open: bool) -> Pending {
        if !open && self.is_empty() {
            return self;
        }
        self.push("RELEASE write_tx");
        self
    }
}

/// The arguments, encoded for sqlx.
fn encode<'a>(args: impl IntoIterator<Item = &'a Arg>) -> Result<SqliteArguments, sqlx::Error> {
    let mut out = SqliteArguments::default();
    for arg in args {
        let added = match arg {
            Arg::Null => out.add(None::<i64>),
            Arg::Int(v) => out.add(*v),
            Arg::Text(v) => out.add(v.clone()),
        };
        added.map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

/// Statements of a write transaction whose results are not needed, gathered before (or
/// during) the transaction and sent together.
#[derive(Debug, Default)]
pub struct Writes(Pending);

impl Writes {
    /// Adds a statement (no rows, no count needed); its failure fails the transaction.
    pub fn defer(&mut self, sql: &'static str) -> Bind<'_> {
        debug_assert!(!sql.contains("?1"), "numbered placeholders in `{sql}`");
        self.0.push(sql);
        Bind {
            pending: &mut self.0,
        }
    }
}

fn not_committed(message: String) -> sqlx::Error {
    sqlx::Error::Protocol(format!("the write was not committed: {message}"))
}

/// Sends `pending` on the turn's connection in one round trip, opening the transaction's
/// savepoint first if it is not open yet.
async fn send(turn: &mut Turn, pending: Pending) -> Result<Vec<SqliteRow>, sqlx::Error> {
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let args = encode(&pending.args)?;
    let sql = if turn.in_transaction {
        pending.joined()
    } else {
        format!("SAVEPOINT write_tx;\n{}", pending.joined())
    };
    // From here on the savepoint may be open: dropped, the transaction is undone.
    turn.in_transaction = true;
    sqlx::query_with(AssertSqlSafe(sql), args)
        .fetch_all(&mut turn.batch.conn)
        .await
}

/// A write transaction. Its statements go through [`WriteTx::defer`] (results not needed),
/// [`WriteTx::fetch_with`] (rows needed) or, for anything else, [`WriteTx::conn`]. Dropped
/// without [`WriteTx::commit`], it is rolled back.
#[derive(Debug)]
pub struct WriteTx {
    turn: Turn,
    pending: Writes,
}

/// A deferred statement's arguments, bound in order (`?` placeholders only: numbered ones
/// would not count from the statement's own first argument once joined with others).
pub struct Bind<'t> {
    pending: &'t mut Pending,
}

impl Bind<'_> {
    /// Binds the next argument.
    pub fn bind(self, value: impl Into<Arg>) -> Self {
        self.pending.args.push(value.into());
        self
    }
}

impl WriteTx {
    /// Queues a statement whose result is not needed (no rows, no count): it is sent with
    /// the transaction's next statement, or at commit. Its failure fails that send.
    pub fn defer(&mut self, sql: &'static str) -> Bind<'_> {
        self.pending.defer(sql)
    }

    /// The statements queued so far, to add to.
    pub fn writes(&mut self) -> &mut Writes {
        &mut self.pending
    }

    fn push(&mut self, sql: &'static str) {
        self.pending.0.push(sql);
    }

    /// Sends what is pending; the rows of every statement sent (deferred ones return none).
    async fn send(&mut self) -> Result<Vec<SqliteRow>, sqlx::Error> {
        let pending = std::mem::take(&mut self.pending.0);
        send(&mut self.turn, pending).await
    }

    /// Runs `sql` with arguments bound by `bind` (after what is pending, in the same round
    /// trip) and returns its rows.
    pub async fn fetch_with(
        &mut self,
        sql: &'static str,
        bind: impl FnOnce(Bind<'_>) -> Bind<'_>,
    ) -> Result<Vec<SqliteRow>, sqlx::Error> {
        bind(self.defer(sql));
        self.send().await
    }

    /// The writer connection, for statements of this transaction that need more than rows
    /// (what is pending is sent first, so they see it).
    pub async fn conn(&mut self) -> Result<&mut SqliteConnection, sqlx::Error> {
        if !self.turn.in_transaction {
            self.push("SELECT 1 WHERE 0");
        }
        self.send().await?;
        Ok(&mut self.turn.batch.conn)
    }

    /// Commits: sends what is pending with the RELEASE, and returns once the batch holding
    /// this transaction is durably committed.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let WriteTx { mut turn, pending } = self;
        let writer = turn.writer.clone();
        let released = writer.clone().spawn(async move {
            turn.unfinished = false;
            let open = turn.in_transaction;
            let sent = send(&mut turn, pending.0.released(open)).await;
            if let Err(e) = sent {
                return writer.abandon(turn, e).await;
            }
            turn.in_transaction = false;
            // Committing nothing still waits for the open batch, which may hold what this
            // transaction read.
            let (done, committed) = oneshot::channel();
            turn.batch.state.waiters.push(done);
            turn.batch.state.joined += 1;
            turn.batch.settle(&writer.queued).await;
            Ok(committed)
            // The turn passes on: writers queued behind join this batch (or commit it).
        });
        let committed = released.await.map_err(|_| stopped())??;
        committed.await.map_err(|_| stopped())?.map(|_| ())
    }

    /// Rolls back.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let WriteTx { mut turn, .. } = self;
        let (done, finished) = oneshot::channel::<()>();
        let writer = turn.writer.clone();
        writer.spawn(async move {
            turn.unfinished = false;
            turn.batch.state.joined += 1;
            if std::mem::take(&mut turn.in_transaction) {
                turn.batch.state.abandoned = true;
                turn.batch.undo_abandoned().await;
            }
            let queued = Arc::clone(&turn.writer.queued);
            turn.batch.settle(&queued).await;
            let _ = done.send(());
        });
        let _ = finished.await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::time::Duration;

    use sqlx::ConnectOptions;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

    use super::*;

    /// A writer and a separate reader connection on a fresh database with `t (k UNIQUE)`.
    async fn setup() -> (tempfile::TempDir, Writer, SqliteConnection) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let options = SqliteConnectOptions::from_str(&format!(
            "sqlite://{}",
            dir.path().join("w.db").display()
        ))
        .expect("a database URL")
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10));
        let mut reader = options.connect().await.expect("a reader");
        sqlx::query("CREATE TABLE t (k TEXT NOT NULL UNIQUE)")
            .execute(&mut reader)
            .await
            .expect("a table");
        let writer =
            Writer::new(options.connect().await.expect("a writer"), None).expect("a writer");
        (dir, writer, reader)
    }

    /// Options for a writer on `setup`'s database that commits without syncing, as one with
    /// a syncer does.
    fn leaves_sync(dir: &tempfile::TempDir) -> SqliteConnectOptions {
        SqliteConnectOptions::from_str(&format!("sqlite://{}", dir.path().join("w.db").display()))
            .expect("a database URL")
            .synchronous(SqliteSynchronous::Normal)
    }

    async fn keys(reader: &mut SqliteConnection) -> Vec<String> {
        sqlx::query_scalar("SELECT k FROM t ORDER BY k")
            .fetch_all(reader)
            .await
            .expect("a read")
    }

    /// Inserts at once (through `conn`).
    async fn insert(tx: &mut WriteTx, k: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO t (k) VALUES (?)")
            .bind(k.to_owned())
            .execute(tx.conn().await?)
            .await
            .map(|_| ())
    }

    #[tokio::test]
    async fn a_commit_is_visible_to_other_connections_when_it_returns() {
        let (_dir, writer, mut reader) = setup().await;
        let mut tx = writer.begin().await.expect("begin");
        insert(&mut tx, "a").await.expect("insert");
        assert!(keys(&mut reader).await.is_empty(), "not before the commit");
        tx.commit().await.expect("commit");
        assert_eq!(keys(&mut reader).await, ["a"]);
    }

    /// Frames in the WAL, as a checkpoint on `conn` reports them.
    async fn wal_frames(conn: &mut SqliteConnection) -> i64 {
        let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(conn)
            .await
            .expect("a checkpoint");
        frames
    }

    /// After the writer's checkpoint, the next commit starts the WAL over from its
    /// beginning: what lets it stay short under a steady load (see `Writer::checkpoint`).
    #[tokio::test]
    async fn the_commit_after_the_writers_checkpoint_starts_the_wal_over() {
        let (dir, writer, mut reader) = setup().await;
        for n in 0..200 {
            let mut w = Writes::default();
            w.defer("INSERT INTO t (k) VALUES (?)")
                .bind(format!("{n:04}-{}", "x".repeat(500)));
            writer.run(w).await.expect("a commit");
        }
        // Its size, not a checkpoint: one here, with no commit beside it, would let the
        // next commit start the WAL over by itself.
        let before = std::fs::metadata(dir.path().join("w.db-wal"))
            .expect("the WAL")
            .len();
        assert!(
            before > 200 * 500,
            "the commits filled the WAL: {before} bytes"
        );
        assert!(
            writer.checkpoint().await.expect("a checkpoint"),
            "between batches"
        );
        let mut w = Writes::default();
        w.defer("INSERT INTO t (k) VALUES ('after')");
        writer.run(w).await.expect("a commit");
        let after = wal_frames(&mut reader).await;
        assert!(
            after < 10,
            "the WAL started over: {after} frames after the checkpoint, {before} bytes before"
        );
        assert_eq!(keys(&mut reader).await.len(), 201, "nothing lost");
    }

    /// Jobs run without a savepoint each. One that fails half-way (on its second statement,
    /// because of a job before it in the same batch) has the batch run again, each job in
    /// a savepoint: the other jobs' writes are committed once, the failed job's first write
    /// is undone, and it is told it failed, as it would have been with savepoints all along.
    #[tokio::test]
    async fn a_job_that_fails_half_way_is_undone_alone() {
        let (_dir, writer, mut reader) = setup().await;
        let job = |keys: &[&str]| {
            let mut w = Writes::default();
            for k in keys {
                w.defer("INSERT INTO t (k) VALUES (?)").bind(*k);
            }
            w
        };
        let before = replays();
        let mut expected = Vec::new();
        for round in 0..20 {
            let [a, b, c, d] = ["a", "b", "c", "d"].map(|k| format!("{round:02}-{k}"));
            // Sent in this order, they run in it; `b` fails on `a`'s key, after its own.
            let (ra, rb, rc, rd) = tokio::join!(
                writer.run(job(&[&a])),
                writer.run(job(&[&b, &a])),
                writer.run(job(&[&c, &d])),
                writer.run(job(&[&c])),
            );
            assert!(ra.is_ok() && rc.is_ok(), "{ra:?} {rc:?}");
            let e = rb.expect_err("b reuses a's key");
            assert!(e.to_string().contains("UNIQUE"), "{e}");
            rd.expect_err("d reuses c's key, on its first statement");
            expected.extend([a, c, d]);
        }
        assert_eq!(
            keys(&mut reader).await,
            expected,
            "every b undone, all else kept once"
        );
        assert!(
            replays() >= before + 20,
            "each failing job had its batch run again"
        );
    }

    /// A batch lost while it is run again (SQLite rolls the whole transaction back during
    /// a job's second run) is begun anew for the jobs after it, whose waiters make later
    /// jobs take savepoints: a later job that fails undoes itself alone, and no job is told
    /// it committed unless its rows are there. Driven on the writer's state directly, with a trigger that rolls back
    /// the transaction the second time it sees one key.
    #[test]
    fn a_batch_lost_during_a_replay_tells_no_one_it_committed() {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = rusqlite::Connection::open(dir.path().join("r.db")).expect("a database");
        db.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (k TEXT NOT NULL UNIQUE);")
            .expect("a table");
        db.create_scalar_function(
            "second_time",
            0,
            rusqlite::functions::FunctionFlags::SQLITE_UTF8,
            |_| Ok(CALLS.fetch_add(1, Ordering::SeqCst) == 1),
        )
        .expect("a function");
        db.execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON t WHEN NEW.k = 'x' AND second_time() \
             BEGIN SELECT RAISE(ROLLBACK, 'boom'); END;",
        )
        .expect("a trigger");
        let job = |keys: &[&str]| {
            let mut w = Writes::default();
            for k in keys {
                w.defer("INSERT INTO t (k) VALUES (?)").bind(*k);
            }
            let (done, told) = oneshot::channel();
            (
                Job {
                    writes: w.0,
                    done,
                    unsynced: false,
                },
                told,
            )
        };
        let mut state = State::default();
        let mut told = Vec::new();
        // `x` fails only when run again, `[a, a]` and `[c, c]` on their second statement.
        for keys in [&["x"][..], &["b"], &["a", "a"], &["c", "c"]] {
            let (j, t) = job(keys);
            state.start_here(&db).expect("begin");
            state.run_job_here(&db, j);
            told.push(t);
        }
        assert!(state.closing(&AtomicUsize::new(0)));
        let (ending, number) = state.ending();
        let result = exec_here(&db, ending).map_err(|e| e.to_string());
        state.settled(result, std::time::Instant::now(), number);
        let outcomes: Vec<bool> = told
            .iter_mut()
            .map(|t| matches!(t.try_recv(), Ok(Ok(_))))
            .collect();
        assert_eq!(outcomes, [false, true, false, false]);
        let rows: Vec<String> = db
            .prepare("SELECT k FROM t ORDER BY k")
            .expect("a query")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("keys");
        assert_eq!(
            rows,
            ["b"],
            "the one job told it committed, and nothing else"
        );
    }

    /// An unsynced run returns at its commit, before the sync, with its batch's number;
    /// `synced` waits for that sync and fails when it fails, and later runs are refused.
    #[tokio::test]
    async fn an_unsynced_run_returns_at_its_commit_and_synced_waits_for_the_disk() {
        let (dir, _writer, mut reader) = setup().await;
        let options = leaves_sync(&dir);
        let slow = Duration::from_millis(200);

        // A WAL that syncs: the number is on disk once `synced` returns.
        let synced = Writer::new(
            options.connect().await.expect("a writer"),
            Some(dir.path().join("w.db-wal")),
        )
        .expect("a writer");
        let mut w = Writes::default();
        w.defer("INSERT INTO t (k) VALUES (?)").bind("first");
        let first = synced.run_unsynced(w).await.expect("committed");
        assert!(first >= 1, "a committed batch has a number: {first}");
        tokio::time::timeout(slow, synced.synced(first))
            .await
            .expect("the sync comes")
            .expect("on disk");
        assert!(synced.synced_through() >= first);
        assert_eq!(
            synced
                .run_unsynced(Writes::default())
                .await
                .expect("nothing"),
            0
        );

        // The syncer's WAL is a FIFO, whose open blocks until the test opens its other end:
        // the sync does not come meanwhile, and then fails (a FIFO cannot be synced).
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let held = Writer::new(
            options.connect().await.expect("a writer"),
            Some(fifo.clone()),
        )
        .expect("a writer");
        let mut w = Writes::default();
        w.defer("INSERT INTO t (k) VALUES (?)").bind("unsynced");
        let number = tokio::time::timeout(slow, held.run_unsynced(w))
            .await
            .expect("returns before the sync")
            .expect("committed");
        assert_eq!(
            keys(&mut reader).await,
            ["first", "unsynced"],
            "visible at once"
        );
        assert!(
            tokio::time::timeout(slow, held.synced(number))
                .await
                .is_err(),
            "synced waits for the sync"
        );
        assert!(held.synced_through() < number);
        let waiting = tokio::spawn({
            let held = held.clone();
            async move { held.synced(number).await }
        });
        let _other_end = std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .expect("the FIFO's other end");
        let e = tokio::time::timeout(slow * 10, waiting)
            .await
            .expect("told when the sync fails")
            .expect("the task ran")
            .expect_err("a failed sync is not on disk");
        assert!(e.to_string().contains("could not be made durable"), "{e}");
        let mut w = Writes::default();
        w.defer("INSERT INTO t (k) VALUES (?)").bind("after");
        let e = held
            .run_unsynced(w)
            .await
            .expect_err("after a failed sync, not even a commit is reported done");
        assert!(e.to_string().contains("fsync"), "{e}");
    }

    /// With a syncer, a commit returns once the WAL is synced, and a sync that fails is
    /// reported as a failed commit, never as success.
    #[tokio::test]
    async fn commits_wait_for_the_syncer_and_a_failed_sync_is_no_success() {
        let (dir, _writer, mut reader) = setup().await;
        let options = leaves_sync(&dir);
        let wal = dir.path().join("w.db-wal");
        let synced =
            Writer::new(options.connect().await.expect("a writer"), Some(wal)).expect("a writer");
        let mut w = Writes::default();
        w.defer("INSERT INTO t (k) VALUES (?)").bind("synced");
        synced.run(w).await.expect("committed and synced");
        let mut tx = synced.begin().await.expect("begin");
        insert(&mut tx, "interactive").await.expect("insert");
        tx.commit().await.expect("committed and synced");
        assert_eq!(keys(&mut reader).await, ["interactive", "synced"]);

        // A WAL path that cannot be opened (under a file): the sync fails. The batch is
        // committed (visible) but not known to be on disk, and the caller is told so; every
        // later commit is refused the same way, a sync that succeeds afterwards proving
        // nothing about the pages the failed one lost.
        let broken = Writer::new(
            options.connect().await.expect("a writer"),
            Some(dir.path().join("w.db").join("wal")),
        )
        .expect("a writer");
        for key in ["unsynced", "after"] {
            let mut w = Writes::default();
            w.defer("INSERT INTO t (k) VALUES (?)").bind(key);
            let e = broken
                .run(w)
                .await
                .expect_err("a commit that is not on disk is not reported done");
            assert!(
                e.to_string().contains("could not be made durable")
                    && e.to_string().contains("fsync"),
                "{e}"
            );
        }
        assert_eq!(
            keys(&mut reader).await,
            ["after", "interactive", "synced", "unsynced"]
        );
    }

    #[tokio::test]
    async fn concurrent_writers_all_commit_and_failures_leave_the_others_alone() {
        let (_dir, writer, mut reader) = setup().await;
        let mut tasks = Vec::new();
        for n in 0..60 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                let mut tx = writer.begin().await.expect("begin");
                insert(&mut tx, &format!("k{n:02}")).await.expect("insert");
                match n % 3 {
                    // Committed.
                    0 => tx.commit().await.map(|()| true),
                    // A statement fails (duplicate key): the transaction is dropped.
                    1 => {
                        let again = insert(&mut tx, &format!("k{n:02}")).await;
                        assert!(again.is_err(), "a duplicate key is refused");
                        Ok(false)
                    }
                    // Rolled back explicitly.
                    _ => tx.rollback().await.map(|()| false),
                }
            }));
        }
        let mut expected = Vec::new();
        for (n, task) in tasks.into_iter().enumerate() {
            if task.await.expect("a writer task").expect("no commit fails") {
                expected.push(format!("k{n:02}"));
            }
        }
        assert_eq!(keys(&mut reader).await, expected);
    }

    #[tokio::test]
    async fn jobs_sent_together_fail_alone() {
        let (_dir, writer, mut reader) = setup().await;
        let mut tasks = Vec::new();
        for n in 0..40 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                let mut w = Writes::default();
                // Every fourth job inserts a key twice: it fails, and only it is undone.
                w.defer("INSERT INTO t (k) VALUES (?)")
                    .bind(format!("j{n:02}"));
                if n % 4 == 0 {
                    w.defer("INSERT INTO t (k) VALUES (?)")
                        .bind(format!("j{n:02}"));
                }
                writer.run(w).await
            }));
        }
        let mut expected = Vec::new();
        for (n, task) in tasks.into_iter().enumerate() {
            let result = task.await.expect("a job task");
            if n % 4 == 0 {
                let e = result.expect_err("a duplicate key fails its job");
                assert!(
                    matches!(&e, sqlx::Error::Database(db) if db.is_unique_violation()),
                    "{e}"
                );
            } else {
                result.expect("the other jobs commit");
                expected.push(format!("j{n:02}"));
            }
        }
        assert_eq!(keys(&mut reader).await, expected);
    }

    /// Jobs (run on the writer's thread through the handle) and interactive transactions
    /// (through sqlx) share batches: each commits or is undone on its own, whatever ran
    /// beside it.
    #[tokio::test]
    async fn jobs_and_interactive_transactions_share_batches() {
        let (_dir, writer, mut reader) = setup().await;
        let mut tasks = Vec::new();
        for n in 0..48 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                let key = format!("k{n:02}");
                match n % 4 {
                    // A job; every eighth one fails (its key twice) and is undone alone.
                    0 | 2 => {
                        let mut w = Writes::default();
                        w.defer("INSERT INTO t (k) VALUES (?)").bind(key.clone());
                        if n % 8 == 0 {
                            w.defer("INSERT INTO t (k) VALUES (?)").bind(key);
                        }
                        writer.run(w).await.map(|()| n % 8 != 0)
                    }
                    // Interactive, committed.
                    1 => {
                        let mut tx = writer.begin().await?;
                        insert(&mut tx, &key).await?;
                        tx.commit().await.map(|()| true)
                    }
                    // Interactive, rolled back.
                    _ => {
                        let mut tx = writer.begin().await?;
                        insert(&mut tx, &key).await?;
                        tx.rollback().await.map(|()| false)
                    }
                }
            }));
        }
        let mut expected = Vec::new();
        for (n, task) in tasks.into_iter().enumerate() {
            match task.await.expect("a writer task") {
                Ok(true) => expected.push(format!("k{n:02}")),
                Ok(false) => assert!(n % 4 == 3, "only rollbacks end uncommitted: {n}"),
                Err(e) => {
                    assert!(n % 8 == 0, "only the failing jobs fail: {n}: {e}");
                    assert!(
                        matches!(&e, sqlx::Error::Database(db) if db.is_unique_violation()),
                        "{e}"
                    );
                }
            }
        }
        assert_eq!(expected.len(), 24 - 6 + 12);
        assert_eq!(keys(&mut reader).await, expected);
    }

    /// A stream of jobs that all fail still ends its batch after [`MAX_BATCH`] of them, so
    /// an interactive transaction queued behind the stream gets its turn then, not after
    /// the whole stream (failing jobs are not waiters, but they count).
    #[tokio::test]
    async fn failing_jobs_count_toward_the_batch_limit() {
        let (_dir, writer, mut reader) = setup().await;
        sqlx::query("INSERT INTO t (k) VALUES ('taken')")
            .execute(&mut reader)
            .await
            .expect("a key");
        const STREAM: usize = 2000;
        let failed = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..STREAM {
            let writer = writer.clone();
            let failed = Arc::clone(&failed);
            tasks.push(tokio::spawn(async move {
                let mut w = Writes::default();
                w.defer("INSERT INTO t (k) VALUES (?)")
                    .bind("taken".to_owned());
                let result = writer.run(w).await;
                failed.fetch_add(1, Ordering::SeqCst);
                result
            }));
        }
        // Every job is queued before the interactive transaction asks for its turn.
        while failed.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let mut tx = writer.begin().await.expect("begin");
        let failed_before = failed.load(Ordering::SeqCst);
        insert(&mut tx, "interactive").await.expect("insert");
        tx.commit().await.expect("commit");
        assert!(
            failed_before < STREAM / 2,
            "the transaction waited for {failed_before} failing jobs"
        );
        for task in tasks {
            let result = task.await.expect("a job task");
            assert!(result.is_err(), "a duplicate key fails its job");
        }
        assert_eq!(keys(&mut reader).await, ["interactive", "taken"]);
    }

    #[tokio::test]
    async fn an_uncommitted_transaction_is_undone_and_the_batch_goes_on() {
        let (_dir, writer, mut reader) = setup().await;
        let mut first = writer.begin().await.expect("begin");
        insert(&mut first, "kept").await.expect("insert");
        // Queued behind the first: the first's commit leaves the batch open for it.
        let second = {
            let writer = writer.clone();
            tokio::spawn(async move {
                let mut tx = writer.begin().await.expect("begin");
                insert(&mut tx, "dropped").await.expect("insert");
                drop(tx);
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let committed = tokio::spawn(first.commit());
        second.await.expect("the second writer");
        tokio::time::timeout(Duration::from_secs(10), committed)
            .await
            .expect("the batch is committed by someone")
            .expect("a task")
            .expect("commit");
        assert_eq!(keys(&mut reader).await, ["kept"]);
    }

    #[tokio::test]
    async fn a_cancelled_request_does_not_stall_the_writer() {
        let (_dir, writer, mut reader) = setup().await;
        let holder = writer.begin().await.expect("begin");
        // A writer that gives up while queued, and one cancelled mid-transaction.
        let queued = {
            let writer = writer.clone();
            tokio::spawn(async move { writer.begin().await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        queued.abort();
        drop(holder);
        let cancelled = {
            let writer = writer.clone();
            tokio::spawn(async move {
                let mut tx = writer.begin().await.expect("begin");
                insert(&mut tx, "cancelled").await.expect("insert");
                std::future::pending::<()>().await;
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancelled.abort();
        let mut tx = tokio::time::timeout(Duration::from_secs(10), writer.begin())
            .await
            .expect("the writer is free again")
            .expect("begin");
        insert(&mut tx, "after").await.expect("insert");
        tx.commit().await.expect("commit");
        assert_eq!(keys(&mut reader).await, ["after"]);
    }
}
