//! The writer's VFS: SQLite's own (`unix`), except that the WAL frames of a commit reach
//! the file in one write instead of two per frame.
//!
//! SQLite writes a WAL frame as its 24-byte header, then its page, each with a `pwrite` of
//! its own: 12.8 % of a login's CPU was in `pwrite`, about 7 calls per login (docs/
//! benchmark.md). A batch of 30 logins writes about 90 frames, and each call pays the
//! kernel's fixed costs (the inode lock, the time stamps, the checks) and zeroes the parts
//! of the two page-cache pages it covers only partly (a frame is 4,120 bytes).
//!
//! Here the frames SQLite appends to the WAL are held back in order, and written in one
//! piece when the commit frame's page comes (its header's second word, the database size
//! after the commit, is not zero): in the same call, so a failed write fails the commit,
//! before SQLite updates the WAL index that makes the frames visible. A header is a new
//! frame's when it extends the WAL; its page is the write that starts where it ends.
//! Anything else done to the WAL file first writes what is held, as it was: a read (SQLite
//! reads back frames it spilled, or rewrites checksums), a write elsewhere, a sync, a size,
//! a lock, a close. A header rewritten in place (SQLite recomputes a transaction's
//! checksums when it wrote a page twice, and writes headers alone) goes through at once:
//! it may be the commit's, and no call on the WAL file follows it. Long transactions are
//! written every [`MAX_HELD`] bytes. So every frame is whole in the file before the commit
//! that makes it visible.
//!
//! Every other file, and every other method, is passed to the `unix` VFS as it is.

use std::ffi::{CStr, c_int, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::ffi;

/// The VFS's name (`vfs=` of the writer's connection).
pub const NAME: &CStr = c"interlude-wal";

/// A WAL frame's header.
const FRAME_HEADER: usize = 24;

/// At most this much is held back (a transaction of more frames is written in pieces).
const MAX_HELD: usize = 4 << 20;

/// The most `unix` writes in one call (it writes at most 128 KiB - 1 per `pwrite`, and
/// calls a shorter write a full disk).
const MAX_WRITE: usize = 124 << 10;

/// Frames written with their headers so far.
static JOINED: AtomicU64 = AtomicU64::new(0);

/// How many WAL frames were written with their headers in this process, for tests.
pub fn joined() -> u64 {
    JOINED.load(Ordering::Relaxed)
}

thread_local! {
    /// Writes of held frames by this thread.
    static WRITES_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many writes of held frames this thread made (each of up to [`MAX_WRITE`] bytes),
/// for tests.
pub fn held_writes_here() -> u64 {
    WRITES_HERE.with(std::cell::Cell::get)
}

/// Frame headers rewritten in place so far (written through at once).
static REWRITTEN: AtomicU64 = AtomicU64::new(0);

/// How many WAL frame headers were rewritten in place in this process, for tests.
pub fn rewritten() -> u64 {
    REWRITTEN.load(Ordering::Relaxed)
}

/// The registered VFS, and the `unix` one under it.
struct Registered {
    real: *mut ffi::sqlite3_vfs,
    real_file_size: usize,
}

// SAFETY: SQLite's VFS objects live as long as the process and are used from any thread.
unsafe impl Send for Registered {}
unsafe impl Sync for Registered {}

static REGISTERED: OnceLock<Option<Registered>> = OnceLock::new();

/// An open file: the `unix` file follows this header in the same allocation. Its methods
/// are of version 3 or later (`open` checks), so every field of [`METHODS`] is theirs too.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    /// A WAL file: frame headers are joined to their pages.
    wal: bool,
    /// Frames appended to the WAL and not yet passed on, contiguous from `held_at`: whole
    /// frames, then perhaps the header of one whose page has not come yet (`open_header`).
    held: Vec<u8>,
    held_at: i64,
    /// Where in `held` the header of a frame without its page starts.
    open_header: Option<usize>,
    /// Where this handle's writes to the WAL end, since the WAL last started over (a write
    /// at offset 0, its header): a header from there on is a new frame's, whose page
    /// SQLite writes next. A header before it is one rewritten in place
    /// (`walRewriteChecksums`, followed by no write of its page) and goes through at once.
    end: i64,
    /// A frame's size (page + header) once known, from the WAL header this handle wrote or
    /// its first whole frame (never from a later page: `walWriteToLog` splits a padding
    /// frame at the sync point): a header starts only at a frame boundary.
    frame: i64,
    /// For a main database file: its WAL's handle, while open; for a WAL: its database's.
    peer: *mut File,
    /// For a main database file: the name SQLite opened it with (the key in `MAIN_FILES`).
    name: usize,
}

/// Main database files open through this VFS, by the address of their name (which
/// `sqlite3_filename_database` of their WAL's name returns), and their handles.
static MAIN_FILES: std::sync::Mutex<Vec<(usize, usize)>> = std::sync::Mutex::new(Vec::new());

/// Where the `unix` file starts in SQLite's allocation.
const REAL_OFFSET: usize = std::mem::size_of::<File>().next_multiple_of(16);

/// Registers the VFS once (not as the default). Returns whether it is there to use.
pub fn register() -> bool {
    REGISTERED
        .get_or_init(|| {
            // SAFETY: `sqlite3_vfs_find` and `sqlite3_vfs_register` are thread-safe; the
            // VFS struct is leaked, so it lives as long as SQLite may use it.
            unsafe {
                let real = ffi::sqlite3_vfs_find(c"unix".as_ptr());
                if real.is_null() {
                    return None;
                }
                let real_file_size = usize::try_from((*real).szOsFile).ok()?;
                let mut vfs = *real;
                vfs.szOsFile = c_int::try_from(REAL_OFFSET + real_file_size).ok()?;
                vfs.zName = NAME.as_ptr();
                vfs.pNext = std::ptr::null_mut();
                vfs.xOpen = Some(open);
                // The other methods are `unix`'s own: they read nothing from the VFS struct
                // but `pAppData` and `mxPathname`, copied with it.
                let vfs = Box::into_raw(Box::new(vfs));
                if ffi::sqlite3_vfs_register(vfs, 0) != ffi::SQLITE_OK {
                    drop(Box::from_raw(vfs));
                    return None;
                }
                Some(Registered {
                    real,
                    real_file_size,
                })
            }
        })
        .is_some()
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let Some(Some(registered)) = REGISTERED.get() else {
        // SAFETY: SQLite's handle; a failed open leaves no methods.
        unsafe { (*file).pMethods = std::ptr::null() };
        return ffi::SQLITE_ERROR;
    };
    // SAFETY: SQLite gives `szOsFile` bytes at `file`, of which the `unix` file takes the
    // part from REAL_OFFSET on; `unix` is opened with its own VFS object.
    unsafe {
        let real = file
            .cast::<u8>()
            .add(REAL_OFFSET)
            .cast::<ffi::sqlite3_file>();
        std::ptr::write_bytes(real.cast::<u8>(), 0, registered.real_file_size);
        let Some(real_open) = (*registered.real).xOpen else {
            (*file).pMethods = std::ptr::null();
            return ffi::SQLITE_ERROR;
        };
        let rc = real_open(registered.real, name, real, flags, out_flags);
        let methods = (*real).pMethods;
        if rc != ffi::SQLITE_OK || methods.is_null() || (*methods).iVersion < 3 {
            // A `unix` file that was opened all the same is closed (SQLite would have);
            // SQLite calls no method of a file whose open failed (`pMethods` null).
            if !methods.is_null()
                && let Some(close) = (*methods).xClose
            {
                close(real);
            }
            (*file).pMethods = std::ptr::null();
            return if rc == ffi::SQLITE_OK {
                ffi::SQLITE_ERROR
            } else {
                rc
            };
        }
        let wal = flags & ffi::SQLITE_OPEN_WAL != 0;
        let main = flags & ffi::SQLITE_OPEN_MAIN_DB != 0 && !name.is_null();
        let this_file = file.cast::<File>();
        this_file.write(File {
            base: ffi::sqlite3_file {
                pMethods: &raw const METHODS,
            },
            real,
            wal,
            held: Vec::new(),
            held_at: 0,
            open_header: None,
            end: 0,
            frame: 0,
            peer: std::ptr::null_mut(),
            name: if main { name as usize } else { 0 },
        });
        {
            let mut mains = MAIN_FILES
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if main {
                mains.push((name as usize, this_file as usize));
            } else if wal && !name.is_null() {
                let db = ffi::sqlite3_filename_database(name) as usize;
                if let Some(&(_, db_file)) = mains.iter().find(|(n, _)| *n == db) {
                    let db_file = db_file as *mut File;
                    (*db_file).peer = this_file;
                    (*this_file).peer = db_file;
                }
            }
        }
        ffi::SQLITE_OK
    }
}

/// The file behind SQLite's handle.
///
/// # Safety
/// `file` is a handle [`open`] opened and [`close`] has not closed.
unsafe fn this<'a>(file: *mut ffi::sqlite3_file) -> &'a mut File {
    // SAFETY: per the contract.
    unsafe { &mut *file.cast::<File>() }
}

impl File {
    /// The `unix` file's methods.
    fn methods(&self) -> &ffi::sqlite3_io_methods {
        // SAFETY: set by `unix`'s open, which succeeded; they live as long as the process.
        unsafe { &*(*self.real).pMethods }
    }

    /// Writes what is held, before anything else is done to the file. (After a failed
    /// write it is dropped: SQLite fails the transaction that wrote it.)
    fn release(&mut self) -> c_int {
        if self.held.is_empty() {
            return ffi::SQLITE_OK;
        }
        let held = std::mem::take(&mut self.held);
        let mut rc = ffi::SQLITE_OK;
        let mut at = self.held_at;
        for piece in held.chunks(MAX_WRITE) {
            rc = self.write_through(piece.as_ptr().cast(), piece.len(), at);
            WRITES_HERE.with(|n| n.set(n.get() + 1));
            if rc != ffi::SQLITE_OK {
                break;
            }
            at += i64::try_from(piece.len()).unwrap_or(i64::MAX);
        }
        self.held = held;
        self.held.clear();
        self.open_header = None;
        rc
    }

    /// Whether `offset` is where the held bytes end.
    fn follows_held(&self, offset: i64) -> bool {
        !self.held.is_empty()
            && i64::try_from(self.held.len()).is_ok_and(|len| offset == self.held_at + len)
    }

    fn write_through(&mut self, data: *const c_void, len: usize, offset: i64) -> c_int {
        let (Some(write), Ok(len)) = (self.methods().xWrite, c_int::try_from(len)) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        // SAFETY: `data` holds `len` bytes, the file is open.
        unsafe { write(self.real, data, len, offset) }
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    len: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite passes an open handle and `len` bytes at `data`.
    let f = unsafe { this(file) };
    let Ok(size) = usize::try_from(len) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    if !f.wal {
        return f.write_through(data, size, offset);
    }
    // SAFETY: as above.
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size) };
    if offset == 0 && size >= 12 {
        // The WAL's header: its page size (1 for 65,536).
        let page = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        f.frame = i64::from(if page == 1 { 65536 } else { page }) + FRAME_HEADER as i64;
    }
    f.end = if offset == 0 {
        i64::from(len)
    } else {
        f.end.max(offset + i64::from(len))
    };
    if let Some(header) = f.open_header {
        if f.follows_held(offset) {
            // The page of the held header: the frame is whole.
            f.open_header = None;
            if f.frame == 0 {
                f.frame = i64::from(len) + FRAME_HEADER as i64;
            }
            f.held.extend_from_slice(bytes);
            JOINED.fetch_add(1, Ordering::Relaxed);
            let commit = f.held[header + 4..header + 8] != [0; 4];
            // Without a link to its database file (see `shm_lock`), nothing is held past
            // the frame: a rollback could not write it before the write lock goes.
            if commit || f.held.len() >= MAX_HELD || f.peer.is_null() {
                return f.release();
            }
            return ffi::SQLITE_OK;
        }
        let rc = f.release();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    // Only a 24-byte write at a frame's start is a header: `walWriteToLog` splits a
    // padding frame at the sync point, and the part after it may be 24 bytes.
    let at_frame_start = f.frame == 0 || (offset - 32) % f.frame == 0;
    if size == FRAME_HEADER && at_frame_start {
        if offset + i64::from(len) < f.end {
            REWRITTEN.fetch_add(1, Ordering::Relaxed);
        } else {
            // A new frame's header: held, after the frames before it if it follows them.
            if !f.follows_held(offset) {
                let rc = f.release();
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                f.held_at = offset;
            }
            f.open_header = Some(f.held.len());
            f.held.extend_from_slice(bytes);
            return ffi::SQLITE_OK;
        }
    }
    let rc = f.release();
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    f.write_through(data, size, offset)
}

/// Passes a method on to the `unix` file, after writing what is held (`$release`), or an
/// error if `unix` has no such method.
macro_rules! pass {
    ($file:expr, $release:expr, $method:ident, $missing:expr $(, $arg:expr)*) => {{
        // SAFETY: SQLite passes an open handle, and arguments as the method expects.
        let f = unsafe { this($file) };
        if $release {
            // An I/O error, whatever the write's was: SQLite rolls the whole transaction
            // back on one. (A full disk met by a read would undo only the statement,
            // and the commit would then publish the frames dropped here.)
            let rc = f.release();
            if rc != ffi::SQLITE_OK {
                return ffi::SQLITE_IOERR_WRITE;
            }
        }
        match f.methods().$method {
            // SAFETY: the `unix` method, on the `unix` file, with SQLite's arguments.
            Some(m) => unsafe { m(f.real $(, $arg)*) },
            None => $missing,
        }
    }};
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes each open handle once, and uses it no more.
    let f = unsafe { this(file) };
    {
        let mut mains = MAIN_FILES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if f.name != 0 {
            mains.retain(|&(n, _)| n != f.name);
        }
        if !f.peer.is_null() {
            // SAFETY: the peer unlinks itself here before it is closed (under the lock).
            unsafe { (*f.peer).peer = std::ptr::null_mut() };
        }
    }
    let released = f.release();
    let rc = match f.methods().xClose {
        // SAFETY: the `unix` file, closed once.
        Some(m) => unsafe { m(f.real) },
        None => ffi::SQLITE_OK,
    };
    // SAFETY: written by `open`, dropped once here.
    unsafe { std::ptr::drop_in_place(file.cast::<File>()) };
    if released != ffi::SQLITE_OK {
        released
    } else {
        rc
    }
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    len: c_int,
    offset: i64,
) -> c_int {
    pass!(file, true, xRead, ffi::SQLITE_IOERR_READ, buf, len, offset)
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    pass!(file, true, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, size)
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    pass!(file, true, xSync, ffi::SQLITE_IOERR_FSYNC, flags)
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    pass!(file, true, xFileSize, ffi::SQLITE_IOERR_FSTAT, size)
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    pass!(file, true, xLock, ffi::SQLITE_IOERR_LOCK, level)
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    pass!(file, true, xUnlock, ffi::SQLITE_IOERR_UNLOCK, level)
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    pass!(
        file,
        true,
        xCheckReservedLock,
        ffi::SQLITE_IOERR_CHECKRESERVEDLOCK,
        out
    )
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    pass!(file, true, xFileControl, ffi::SQLITE_NOTFOUND, op, arg)
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    pass!(file, false, xSectorSize, 4096)
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    pass!(file, false, xDeviceCharacteristics, 0)
}

unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    page: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    pass!(
        file,
        true,
        xShmMap,
        ffi::SQLITE_IOERR_SHMMAP,
        page,
        size,
        extend,
        out
    )
}

unsafe extern "C" fn shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    // The shm methods are the main database file's. Before a lock changes (above all the
    // WAL's write lock, released after a rollback), its WAL writes what it holds: nothing
    // held may outlive the write transaction, or another writer's frames could be
    // overwritten by it later.
    {
        // SAFETY: SQLite passes an open handle; its peer, if any, is open (unlinked on close).
        let f = unsafe { this(file) };
        if !f.peer.is_null() {
            let rc = unsafe { (*f.peer).release() };
            if rc != ffi::SQLITE_OK && flags & ffi::SQLITE_SHM_LOCK != 0 {
                return rc;
            }
        }
    }
    pass!(
        file,
        true,
        xShmLock,
        ffi::SQLITE_IOERR_SHMLOCK,
        offset,
        n,
        flags
    )
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: SQLite passes an open handle.
    let f = unsafe { this(file) };
    if let Some(m) = f.methods().xShmBarrier {
        // SAFETY: the `unix` method on the `unix` file.
        unsafe { m(f.real) }
    }
}

unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    pass!(file, true, xShmUnmap, ffi::SQLITE_OK, delete)
}

unsafe extern "C" fn fetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    len: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // Without `unix`'s method, no mapping: SQLite reads instead.
    pass!(
        file,
        true,
        xFetch,
        {
            // SAFETY: SQLite passes where to put the mapping.
            unsafe { *out = std::ptr::null_mut() };
            ffi::SQLITE_OK
        },
        offset,
        len,
        out
    )
}

unsafe extern "C" fn unfetch(file: *mut ffi::sqlite3_file, offset: i64, p: *mut c_void) -> c_int {
    pass!(file, true, xUnfetch, ffi::SQLITE_OK, offset, p)
}
