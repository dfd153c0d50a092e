//! Zero-copy sends: splice(file → pipe → socket) for Fetch record bytes.
//!
//! ```text
//! segment fd (leased dup) ──splice──▶ pipe (per connection) ──splice──▶ socket
//!        page cache: splice(2) on the shard thread     SPLICE_F_NONBLOCK; EAGAIN → POLLOUT
//!        not cached: io_uring Splice (io-wq worker)    wait through io_uring, then again
//! ```
//! The bytes go from the page cache into the pipe's buffer by reference and from there into
//! the socket's send queue: they never enter user space.
//!
//! Why synchronous splice(2) on the shard thread, not io_uring's Splice op: the kernel forces
//! every io_uring splice onto an io-wq worker thread (it cannot tell whether a splice would
//! block), so each 1 MiB batch cost two hand-offs to a worker and back. Profiled on 2 vCPUs
//! (bench/RESULTS.md, "fetch: splice vs copy"), wake-ups and context switches were 42 % of the
//! broker's CPU in splice mode, more than the memcpy the copy mode pays. Both splice stages can
//! be made non-blocking instead, so the shard thread runs them itself:
//! - pipe → socket: the socket is made non-blocking ([`SplicePipe::send`] sets O_NONBLOCK; the
//!   kernel's splice-to-socket honours only the socket's flag, SPLICE_F_NONBLOCK covers the
//!   pipe). When the send queue is full the splice returns EAGAIN and the task waits for POLLOUT
//!   through io_uring (`PollOnce`), so the shard keeps serving other connections; it never
//!   busy-loops. compio's own reads and writes on the socket are io_uring ops, which do not care
//!   whether the fd is blocking (the kernel arms its internal poll on EAGAIN), so the flag stays.
//! - file → pipe: into an empty pipe it never waits for pipe space, but it *does* block on a
//!   disk read when the pages are not cached: SPLICE_F_NONBLOCK does not make the page-cache
//!   read non-blocking (measured on kernel 6.18 after dropping caches: 1.1–2.7 ms per cold MiB
//!   on this VM's disk, 0.08 ms warm). So each chunk first asks `cachestat(2)` (Linux 6.5)
//!   whether all its pages are cached; only then does the shard splice it itself. Otherwise (or
//!   where cachestat is missing or refused) the chunk goes through the io_uring Splice op, whose
//!   worker thread absorbs the disk wait: a consumer reading old data pays one hand-off per
//!   chunk, a consumer at the tail (the common case, data just produced) pays none. The check
//!   races with eviction; a page evicted between the check and the splice costs one disk read
//!   on the shard thread, which is the price of not locking the page cache.
//!
//! Not chosen: linking the two io_uring splices (IOSQE_IO_LINK). compio 0.19 can set the flag
//! only through a waker extension, and a linked splice is still forced onto io-wq one op at a
//! time, so the link saves a submission, not the hand-offs that dominate the profile.
//!
//! Invariant: between two calls of [`SplicePipe::send`] the pipe is empty. Each call moves at
//! most the pipe's capacity into it and drains exactly that before the next chunk; a failure
//! leaves bytes in the pipe, but a failure also ends the connection (the response frame is
//! already partly sent), so the pipe is never reused dirty.
//!
//! Spliced bytes are not CRC-checked again (the copy path is): recovery checked every batch
//! below the recovery point and appends check theirs, as Kafka's sendfile path assumes too.
//!
//! Runs on the connection's shard (one pipe per connection, created at its first splice).
use crate::limits;
use crate::storage::LeasedRange;
use compio::driver::ToSharedFd;
use compio::driver::op::{Interest, PollOnce, Splice, SpliceFlags};
use compio::net::TcpStream;
use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;

/// Why a splice send failed; every case closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum SpliceError {
    #[error("splice failed: {0}")]
    Io(#[from] io::Error),
    /// The file ended inside a leased range: it was truncated after the range was resolved.
    /// The frame already announced the bytes, so the connection cannot continue.
    #[error("segment file ended {missing} bytes short of its range at {position}")]
    ShortFile { position: u64, missing: u64 },
    /// The socket took no bytes without reporting an error (peer gone).
    #[error("socket accepted no bytes")]
    WriteZero,
    /// The socket reported writable and still refused bytes this many times in a row.
    #[error("socket stayed unwritable after {waits} readiness waits")]
    Stalled { waits: u32 },
}

impl SpliceError {
    /// The underlying OS error, to tell a peer's close from a failure.
    #[must_use]
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Self::Io(error) => Some(error),
            Self::ShortFile { .. } | Self::WriteZero | Self::Stalled { .. } => None,
        }
    }
}

/// What a pipe did so far, by path (tests and diagnostics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpliceStats {
    /// file → pipe chunks spliced on the shard thread (pages were cached).
    pub fills_sync: u64,
    /// file → pipe chunks sent through io_uring (not cached, or no cachestat).
    pub fills_ring: u64,
    /// Times the socket's send queue was full and the send waited for POLLOUT.
    pub writable_waits: u64,
}

/// A connection's pipe for splicing.
#[derive(Debug)]
pub struct SplicePipe {
    read: Rc<OwnedFd>,
    write: Rc<OwnedFd>,
    /// Bytes the pipe holds at most (what the kernel granted for `SPLICE_PIPE_SIZE`).
    capacity: usize,
    page_size: u64,
    /// Cleared at the first cachestat failure (ENOSYS on kernels before 6.5, or a seccomp
    /// filter): every later chunk takes the io_uring path without asking again.
    cachestat_works: Cell<bool>,
    stats: Cell<SpliceStats>,
}

impl SplicePipe {
    /// A pipe sized to `limits::SPLICE_PIPE_SIZE` (or what the kernel allows: unprivileged
    /// processes are capped at `/proc/sys/fs/pipe-max-size`).
    ///
    /// # Errors
    /// `pipe2` or `fcntl` failures (EMFILE).
    pub fn new() -> io::Result<Self> {
        let (reader, writer) = std::io::pipe()?;
        let read = OwnedFd::from(reader);
        let write = OwnedFd::from(writer);
        let wanted = libc::c_int::try_from(limits::SPLICE_PIPE_SIZE).unwrap_or(libc::c_int::MAX);
        // SAFETY: fcntl on an fd we own, with an integer argument; no memory is passed.
        let granted = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, wanted) };
        let capacity = if granted > 0 {
            granted
        } else {
            // Refused (EPERM above pipe-max-size): keep the default size, whatever it is.
            // SAFETY: as above, no argument.
            unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) }
        };
        let capacity = usize::try_from(capacity).map_err(|_| io::Error::last_os_error())?;
        assert!(capacity > 0, "a pipe holds at least one page");
        // SAFETY: sysconf reads a constant of the process; no memory is passed.
        let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page_size = u64::try_from(page_size).unwrap_or(0);
        assert!(page_size.is_power_of_two(), "page size {page_size}");
        Ok(Self {
            read: Rc::new(read),
            write: Rc::new(write),
            capacity,
            page_size,
            cachestat_works: Cell::new(true),
            stats: Cell::new(SpliceStats::default()),
        })
    }

    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    #[must_use]
    pub fn stats(&self) -> SpliceStats {
        self.stats.get()
    }

    /// Sends `range` to `socket`: file → pipe, pipe → socket, one pipe-full at a time.
    /// `more` tells TCP that more of the response follows (MSG_MORE), so a small tail is not
    /// pushed out as its own segment. Leaves `socket` non-blocking (see the module docs).
    ///
    /// # Errors
    /// See [`SpliceError`]; the connection must close after any of them.
    pub async fn send(
        &self,
        socket: &TcpStream,
        range: &LeasedRange,
        more: bool,
    ) -> Result<(), SpliceError> {
        set_nonblocking(socket.as_raw_fd())?;
        let mut position = range.position;
        let end = range.position + u64::from(range.length);
        // Loop bound: each pass moves ≥ 1 byte of the range (0 is an error), so at most
        // `range.length` passes; in practice length / capacity.
        while position < end {
            let chunk = usize::try_from(end - position)
                .unwrap_or(usize::MAX)
                .min(self.capacity);
            let filled = self.fill(&range.file, position, chunk).await?;
            if filled == 0 {
                return Err(SpliceError::ShortFile {
                    position,
                    missing: end - position,
                });
            }
            assert!(filled <= chunk, "splice moved {filled} > {chunk} bytes");
            self.drain(socket, filled, more).await?;
            position += filled as u64;
        }
        assert_eq!(position, end);
        Ok(())
    }

    /// Moves up to `chunk` bytes at `position` of `file` into the (empty) pipe; returns how
    /// many (0: the file ends at `position`).
    async fn fill(
        &self,
        file: &Arc<OwnedFd>,
        position: u64,
        chunk: usize,
    ) -> Result<usize, SpliceError> {
        assert!(chunk > 0 && chunk <= self.capacity);
        let offset =
            i64::try_from(position).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        if self.is_cached(file.as_raw_fd(), position, chunk) {
            let mut source_offset: libc::loff_t = offset;
            let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
            match splice(
                file.as_raw_fd(),
                Some(&mut source_offset),
                self.write.as_raw_fd(),
                chunk,
                flags,
            ) {
                Ok(filled) => {
                    self.count(|stats| stats.fills_sync += 1);
                    return Ok(filled);
                }
                // Evicted meanwhile or interrupted: the io_uring path below does the wait.
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(error) => return Err(error.into()),
            }
        }
        let fill = Splice::new(
            Arc::clone(file),
            offset,
            Rc::clone(&self.write),
            -1,
            chunk,
            SpliceFlags::MOVE,
        );
        let filled = compio::runtime::submit(fill).await.0?;
        self.count(|stats| stats.fills_ring += 1);
        Ok(filled)
    }

    /// Moves exactly `length` bytes from the pipe to the (non-blocking) socket, waiting for
    /// POLLOUT through io_uring whenever its send queue is full.
    async fn drain(
        &self,
        socket: &TcpStream,
        mut length: usize,
        more: bool,
    ) -> Result<(), SpliceError> {
        let mut flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
        if more {
            flags |= libc::SPLICE_F_MORE;
        }
        let mut waits_in_a_row = 0u32;
        // Loop bound: each pass moves ≥ 1 byte (0 is an error) or waits for POLLOUT, and at
        // most `SPLICE_SOCKET_WAITS_MAX` waits in a row make no progress.
        while length > 0 {
            match splice(
                self.read.as_raw_fd(),
                None,
                socket.as_raw_fd(),
                length,
                flags,
            ) {
                Ok(0) => return Err(SpliceError::WriteZero),
                Ok(sent) => {
                    length = length.checked_sub(sent).ok_or(SpliceError::WriteZero)?;
                    waits_in_a_row = 0;
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    if waits_in_a_row >= limits::SPLICE_SOCKET_WAITS_MAX {
                        return Err(SpliceError::Stalled {
                            waits: waits_in_a_row,
                        });
                    }
                    waits_in_a_row += 1;
                    self.count(|stats| stats.writable_waits += 1);
                    let ready = PollOnce::new(socket.to_shared_fd(), Interest::Writable);
                    compio::runtime::submit(ready).await.0?;
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Whether every page of `[position, position + length)` of `fd` is in the page cache,
    /// so a splice from it will not wait for the disk. False when it cannot tell.
    fn is_cached(&self, fd: RawFd, position: u64, length: usize) -> bool {
        if !self.cachestat_works.get() {
            return false;
        }
        let length = length as u64;
        assert!(length > 0);
        let range = CachestatRange {
            off: position,
            len: length,
        };
        let mut stat = Cachestat::default();
        // SAFETY: cachestat reads `range` and writes `stat`, both live, properly laid out
        // (#[repr(C)] as in include/uapi/linux/mman.h) locals; flags must be 0.
        let result = unsafe {
            libc::syscall(
                SYS_CACHESTAT,
                fd,
                &raw const range,
                &raw mut stat,
                0 as libc::c_uint,
            )
        };
        if result != 0 {
            self.cachestat_works.set(false);
            return false;
        }
        let first_page = position / self.page_size;
        let last_page = (position + length - 1) / self.page_size;
        stat.nr_cache > last_page - first_page
    }

    fn count(&self, update: impl FnOnce(&mut SpliceStats)) {
        let mut stats = self.stats.get();
        update(&mut stats);
        self.stats.set(stats);
    }
}

/// `cachestat(2)`: the same number on every architecture (added after the syscall tables were
/// unified); the libc crate does not export it for x86_64 yet.
const SYS_CACHESTAT: libc::c_long = 451;

/// `struct cachestat_range` of include/uapi/linux/mman.h.
#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

/// `struct cachestat` of include/uapi/linux/mman.h (counts of pages).
#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// One splice(2) on the calling thread; the caller makes sure it cannot block.
fn splice(
    source: RawFd,
    source_offset: Option<&mut libc::loff_t>,
    target: RawFd,
    length: usize,
    flags: libc::c_uint,
) -> io::Result<usize> {
    let offset = source_offset.map_or(std::ptr::null_mut(), std::ptr::from_mut);
    // SAFETY: both fds are open for the call (owned by the caller's pipe, lease or stream);
    // `offset` is null or points to a live loff_t the kernel updates; no other memory passes.
    let moved =
        unsafe { libc::splice(source, offset, target, std::ptr::null_mut(), length, flags) };
    // A negative count is the error case; the conversion fails exactly then.
    usize::try_from(moved).map_err(|_| io::Error::last_os_error())
}

/// Sets O_NONBLOCK on `fd` if it is not set (see the module docs).
fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl F_GETFL on an fd the caller's stream owns for the duration of this call.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above, with an integer argument.
        let result = unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
