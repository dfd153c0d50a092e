//! Zero-copy sends: splice(file → pipe → socket) on io_uring, for Fetch record bytes.
//!
//! ```text
//! segment fd (leased dup) ──splice──▶ pipe (per connection) ──splice──▶ socket
//! ```
//! The bytes go from the page cache into the pipe's buffer by reference and from there into
//! the socket's send queue: they never enter user space. Each splice is an io_uring op
//! (compio's `Splice`); the kernel runs splice ops on io_uring's worker threads, where a
//! blocking socket simply waits for send-queue space. The socket must therefore be *blocking*:
//! on a non-blocking socket a splice under backpressure returns EAGAIN, which would have to be
//! retried by polling (ARCHITECTURE §4). compio's io_uring accept leaves sockets blocking and
//! its socket reads and writes do not need O_NONBLOCK; [`ensure_blocking`] makes it explicit.
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
use crate::shard::logs::LeasedRange;
use compio::driver::ToSharedFd;
use compio::driver::op::{Splice, SpliceFlags};
use compio::net::TcpStream;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
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
}

impl SpliceError {
    /// The underlying OS error, to tell a peer's close from a failure.
    #[must_use]
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Self::Io(error) => Some(error),
            Self::ShortFile { .. } | Self::WriteZero => None,
        }
    }
}

/// A connection's pipe for splicing.
#[derive(Debug)]
pub struct SplicePipe {
    read: Rc<OwnedFd>,
    write: Rc<OwnedFd>,
    /// Bytes the pipe holds at most (what the kernel granted for `SPLICE_PIPE_SIZE`).
    capacity: usize,
}

impl SplicePipe {
    /// A blocking pipe sized to `limits::SPLICE_PIPE_SIZE` (or what the kernel allows:
    /// unprivileged processes are capped at `/proc/sys/fs/pipe-max-size`).
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
        Ok(Self {
            read: Rc::new(read),
            write: Rc::new(write),
            capacity,
        })
    }

    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sends `range` to `socket`: file → pipe, pipe → socket, one pipe-full at a time.
    /// `more` tells TCP that more of the response follows (MSG_MORE), so a small tail is not
    /// pushed out as its own segment.
    ///
    /// # Errors
    /// See [`SpliceError`]; the connection must close after any of them.
    pub async fn send(
        &self,
        socket: &TcpStream,
        range: &LeasedRange,
        more: bool,
    ) -> Result<(), SpliceError> {
        let mut position = range.position;
        let end = range.position + u64::from(range.length);
        let out_flags = if more {
            SpliceFlags::MOVE | SpliceFlags::MORE
        } else {
            SpliceFlags::MOVE
        };
        // Loop bound: each pass moves ≥ 1 byte of the range (0 is an error), so at most
        // `range.length` passes; in practice length / capacity.
        while position < end {
            let chunk = usize::try_from(end - position)
                .unwrap_or(usize::MAX)
                .min(self.capacity);
            let offset = i64::try_from(position)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            let fill = Splice::new(
                Arc::clone(&range.file),
                offset,
                Rc::clone(&self.write),
                -1,
                chunk,
                SpliceFlags::MOVE,
            );
            let filled = compio::runtime::submit(fill).await.0?;
            if filled == 0 {
                return Err(SpliceError::ShortFile {
                    position,
                    missing: end - position,
                });
            }
            assert!(filled <= chunk, "splice moved {filled} > {chunk} bytes");
            self.drain(socket, filled, out_flags).await?;
            position += filled as u64;
        }
        assert_eq!(position, end);
        Ok(())
    }

    /// Moves exactly `length` bytes from the pipe to the socket.
    async fn drain(
        &self,
        socket: &TcpStream,
        mut length: usize,
        flags: SpliceFlags,
    ) -> Result<(), SpliceError> {
        // Loop bound: each pass moves ≥ 1 byte (0 is an error).
        while length > 0 {
            let send = Splice::new(
                Rc::clone(&self.read),
                -1,
                socket.to_shared_fd(),
                -1,
                length,
                flags,
            );
            let sent = compio::runtime::submit(send).await.0?;
            if sent == 0 {
                return Err(SpliceError::WriteZero);
            }
            length = length.checked_sub(sent).ok_or(SpliceError::WriteZero)?;
        }
        Ok(())
    }
}

/// Clears O_NONBLOCK on `socket` if set (see the module docs: splice needs a blocking socket).
///
/// # Errors
/// `fcntl` failures.
pub fn ensure_blocking(socket: &TcpStream) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    // SAFETY: fcntl F_GETFL on an fd the stream owns for the duration of this call.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        // SAFETY: as above, with an integer argument.
        let result = unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
