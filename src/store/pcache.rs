//! SQLite's own page cache, with one key moved out of the way.
//!
//! When a b-tree page splits, SQLite sorts the new pages by number, swapping two of them
//! through a temporary page number: the locking page's (`PENDING_BYTE / page size + 1`,
//! 262,145 for 4 KiB pages), far past the end of any database under 1 GiB. The page cache
//! remembers the highest number it has held, and at the end of every write transaction it
//! drops the pages past the database's end: when that highest number is far past the end,
//! it scans every slot of its hash table (one per cached page) instead of the few past the
//! end. The writer's cache is large (64 MiB, 16,384 slots), and every commit of a batch in
//! which a page split (nearly every batch of logins) scanned them all: 4.6 % of a login's
//! CPU (docs/benchmark.md).
//!
//! This wraps the default cache's methods and stores the page under key 0 while it has that
//! temporary number. SQLite never uses page 0, and never fetches the locking page (its
//! pager refuses it), so the one page that passes through that number is the only one ever
//! keyed 0, for the moment between two renames. Everything else is passed through
//! unchanged.
//!
//! The wrapper is process-wide and has to be set before SQLite initializes: [`install`] does
//! it once, before the first connection, and leaves SQLite's cache as it is when SQLite was
//! started already (it then only costs the scans above).

use std::ffi::{c_int, c_uint, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::ffi;

/// SQLite's locking byte (`PENDING_BYTE`), which no page stores.
const PENDING_BYTE: c_uint = 0x4000_0000;

/// The default cache's methods, as SQLite gave them before the wrapper was set.
struct Inner(ffi::sqlite3_pcache_methods2);

// SAFETY: the methods are plain function pointers and SQLite's default `pArg` (null); SQLite
// calls them from any thread, as the wrapper does.
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

static INNER: OnceLock<Inner> = OnceLock::new();

/// Whether the wrapper is SQLite's page cache in this process.
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Pages stored under key 0 so far.
static MOVED: AtomicU64 = AtomicU64::new(0);

/// How many times a page was stored under key 0 instead of the locking page's number in
/// this process (once per page swap of a split), for tests.
pub fn moves() -> u64 {
    MOVED.load(Ordering::Relaxed)
}

/// One cache: the default one, and the page number it stores under key 0.
#[repr(C)]
struct Cache {
    /// [`MAGIC`]: tells the wrapper's caches from any the default `xCreate` made, should
    /// SQLite have created one while the wrapper was being set (see [`methods`]).
    magic: u64,
    inner: *mut ffi::sqlite3_pcache,
    pending: c_uint,
}

/// Not a valid address on any 64-bit platform SQLite runs on (non-canonical), so the first
/// word of the default cache's struct (a pointer) never equals it.
const MAGIC: u64 = 0xA5A5_5A5A_C0DE_CAFE;

/// Sets the wrapper as SQLite's page cache, once per process. Returns whether it is set;
/// `false` when SQLite was initialized before (its cache is then kept).
pub fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        let mut default = std::mem::MaybeUninit::<ffi::sqlite3_pcache_methods2>::zeroed();
        // SAFETY: GETPCACHE2 writes the current methods (the default ones unless set) into
        // the struct it is given; PCACHE2 copies the struct it is given, and fails without
        // effect once SQLite is initialized.
        unsafe {
            if ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, default.as_mut_ptr())
                != ffi::SQLITE_OK
            {
                return false;
            }
            let default = default.assume_init();
            if default.xCreate.is_none() || INNER.set(Inner(default)).is_err() {
                return false;
            }
            let wrapper = ffi::sqlite3_pcache_methods2 {
                iVersion: 1,
                pArg: std::ptr::null_mut(),
                xInit: Some(init),
                xShutdown: Some(shutdown),
                xCreate: Some(create),
                xCachesize: Some(cachesize),
                xPagecount: Some(pagecount),
                xFetch: Some(fetch),
                xUnpin: Some(unpin),
                xRekey: Some(rekey),
                xTruncate: Some(truncate),
                xDestroy: Some(destroy),
                xShrink: Some(shrink),
            };
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, &raw const wrapper) == ffi::SQLITE_OK
        }
    })
}

/// The default methods: always there once the wrapper is set (they are kept first).
fn inner() -> Option<&'static ffi::sqlite3_pcache_methods2> {
    INNER.get().map(|i| &i.0)
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    let Some(m) = inner() else {
        return ffi::SQLITE_MISUSE;
    };
    // SAFETY: the default method, with its own argument.
    m.xInit.map_or(ffi::SQLITE_OK, |f| unsafe { f(m.pArg) })
}

unsafe extern "C" fn shutdown(_: *mut c_void) {
    if let Some(m) = inner()
        && let Some(f) = m.xShutdown
    {
        // SAFETY: as above.
        unsafe { f(m.pArg) }
    }
}

unsafe extern "C" fn create(
    size: c_int,
    extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let Some(f) = inner().and_then(|m| m.xCreate) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the default method, with SQLite's arguments.
    let cache = unsafe { f(size, extra, purgeable) };
    if cache.is_null() {
        return cache;
    }
    let pending = c_uint::try_from(size)
        .ok()
        .filter(|size| *size > 0)
        .map_or(0, |size| PENDING_BYTE / size + 1);
    Box::into_raw(Box::new(Cache {
        magic: MAGIC,
        inner: cache,
        pending,
    }))
    .cast()
}

/// The default cache behind SQLite's handle, and the page number it stores under key 0
/// (none for a handle the default `xCreate` made).
///
/// `sqlite3_config` is not synchronized with SQLite's start: were a connection opened on
/// another thread at the very moment the wrapper is set, its cache could come from the
/// default `xCreate` and reach the wrapper's methods. Such a handle is passed through
/// as it is.
///
/// # Safety
/// `p` is a live handle of SQLite's page cache: one [`create`] returned, or one of the
/// default cache (whose struct is larger than two words and starts with a pointer).
unsafe fn methods(p: *mut ffi::sqlite3_pcache) -> (*mut ffi::sqlite3_pcache, c_uint) {
    // SAFETY: per the contract the first word is readable either way.
    if unsafe { p.cast::<u64>().read() } == MAGIC {
        // SAFETY: a live `Cache` made by `create`.
        let c = unsafe { &*p.cast::<Cache>() };
        (c.inner, c.pending)
    } else {
        (p, 0)
    }
}

/// The key the default cache stores `key` under.
fn key(key: c_uint, pending: c_uint) -> c_uint {
    if key == pending && pending != 0 {
        0
    } else {
        key
    }
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, n: c_int) {
    if let Some(f) = inner().and_then(|m| m.xCachesize) {
        // SAFETY: SQLite passes a live handle; the default method gets its own.
        unsafe { f(methods(p).0, n) }
    }
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    // SAFETY: as above.
    inner()
        .and_then(|m| m.xPagecount)
        .map_or(0, |f| unsafe { f(methods(p).0) })
}

unsafe extern "C" fn fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    let Some(f) = inner().and_then(|m| m.xFetch) else {
        return std::ptr::null_mut();
    };
    // SAFETY: as above.
    unsafe {
        let (inner, pending) = methods(p);
        f(inner, self::key(key, pending), create)
    }
}

unsafe extern "C" fn unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    if let Some(f) = inner().and_then(|m| m.xUnpin) {
        // SAFETY: as above; the page is the default cache's.
        unsafe { f(methods(p).0, page, discard) }
    }
}

unsafe extern "C" fn rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    if let Some(f) = inner().and_then(|m| m.xRekey) {
        // SAFETY: as above.
        unsafe {
            let (inner, pending) = methods(p);
            if new == pending && pending != 0 {
                MOVED.fetch_add(1, Ordering::Relaxed);
            }
            f(inner, page, key(old, pending), key(new, pending));
        }
    }
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    if let Some(f) = inner().and_then(|m| m.xTruncate) {
        // SAFETY: as above. No page is keyed 0 but between two renames, so none is kept
        // that should go.
        unsafe { f(methods(p).0, limit) }
    }
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: SQLite passes a live handle, and destroys each once.
    let (default, _) = unsafe { methods(p) };
    if default != p {
        // SAFETY: the box is `create`'s, freed once here.
        drop(unsafe { Box::from_raw(p.cast::<Cache>()) });
    }
    if let Some(f) = inner().and_then(|m| m.xDestroy) {
        // SAFETY: the default cache, destroyed once with its wrapper.
        unsafe { f(default) }
    }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    if let Some(f) = inner().and_then(|m| m.xShrink) {
        // SAFETY: as above.
        unsafe { f(methods(p).0) }
    }
}
