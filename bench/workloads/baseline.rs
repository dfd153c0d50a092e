//! The `baseline` workload: what loopback TCP itself does with the same sizes, in the same run,
//! so broker figures can be read against the machine's limit.
//!
//! ```text
//! tcp-sink        client writes batch-size chunks, server reads and discards  (produce path)
//! tcp-file-sink   as tcp-sink, and the server appends every chunk to a file    (produce path,
//!                 with the page-cache write a broker adds; a new file every 256 MiB, the
//!                 previous one deleted, like segment roll + retention; no fsync)
//! tcp-file-sync-sink as tcp-file-sink, and each full file is fdatasynced before the next
//!                 starts (a log that flushes every rolled segment, as Kafka and we do: every
//!                 byte reaches the disk; tcp-file-sink deletes its files before writeback)
//! tcp-source      server writes chunks from memory, client reads and discards (fetch, copied)
//! file-copy-source server pread()s the same file into a buffer and writes it    (fetch, copied)
//! sendfile-source server sendfile()s a page-cached file, client reads          (fetch, zero-copy)
//! ping-pong       client sends one chunk, server answers 8 bytes; round-trip latency
//! ```
//! Total bytes = `--record-size × --num-records`; chunk = `--batch-size`. Every transfer is
//! bounded by that byte count and by the run's deadline (socket timeouts bound each call).
//! Runs on the main thread plus one server thread per transfer, on 127.0.0.1 only.
use crate::cli::Options;
use crate::report::{BaselineRow, Latency, baseline_table};
use anyhow::{Context, bail};
use ringbroker::client::connection::SOCKET_TIMEOUT;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest total a baseline moves (64 GiB), whatever the record count says.
pub const BASELINE_BYTES_MAX: u64 = 64 * 1024 * 1024 * 1024;
/// Largest file the sendfile source writes; larger totals send it repeatedly.
const SENDFILE_FILE_SIZE_MAX: u64 = 256 * 1024 * 1024;
/// Bytes tcp-file-sink writes to one file before it deletes it and starts the next.
const FILE_SINK_FILE_SIZE: u64 = 256 * 1024 * 1024;
/// Round trips the ping-pong test makes at most.
const PING_PONG_COUNT_MAX: u64 = 100_000;
const PONG_SIZE: usize = 8;

/// Sizes of one baseline run.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    total: u64,
    chunk: usize,
    record_size: usize,
    deadline: Instant,
}

/// Runs the four transfers and prints the table.
///
/// # Errors
/// Socket or file errors, or a transfer that moved fewer bytes than asked.
pub fn run(options: &Options, deadline: Instant) -> anyhow::Result<Vec<BaselineRow>> {
    let records = options
        .records_limit()
        .context("baseline needs --num-records")?;
    let total = records
        .saturating_mul(options.record_size as u64)
        .min(BASELINE_BYTES_MAX);
    let sizes = Sizes {
        total,
        chunk: options.batch_size,
        record_size: options.record_size,
        deadline,
    };
    let rows = vec![
        tcp_sink(sizes, SinkTo::Nothing)?,
        tcp_sink(sizes, SinkTo::Files)?,
        tcp_sink(sizes, SinkTo::SyncedFiles)?,
        tcp_source(sizes)?,
        file_source(sizes, FileSend::Copy)?,
        file_source(sizes, FileSend::Sendfile)?,
        ping_pong(sizes)?,
    ];
    print!("{}", baseline_table(&rows));
    Ok(rows)
}

fn row(name: &'static str, sizes: Sizes, bytes: u64, elapsed: Duration) -> BaselineRow {
    BaselineRow {
        name,
        bytes,
        chunk_size: sizes.chunk,
        elapsed,
        records: bytes / sizes.record_size as u64,
        latency: None,
    }
}

/// A listener on an ephemeral loopback port and a thread serving its one connection.
fn serve<F>(serve_one: F) -> anyhow::Result<(u16, JoinHandle<anyhow::Result<u64>>)>
where
    F: FnOnce(TcpStream) -> anyhow::Result<u64> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let handle = std::thread::Builder::new()
        .name("ringbench-baseline".to_owned())
        .spawn(move || {
            let (stream, _) = listener.accept()?;
            configure(&stream)?;
            serve_one(stream)
        })?;
    Ok((port, handle))
}

fn configure(stream: &TcpStream) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    stream.set_write_timeout(Some(SOCKET_TIMEOUT))?;
    Ok(())
}

fn connect(port: u16) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    configure(&stream)?;
    Ok(stream)
}

fn join(handle: JoinHandle<anyhow::Result<u64>>) -> anyhow::Result<u64> {
    match handle.join() {
        Ok(result) => result,
        Err(_) => bail!("a baseline server thread panicked"),
    }
}

/// Reads until EOF, the deadline, or `limit` bytes; returns the bytes read.
fn drain(
    stream: &mut TcpStream,
    chunk: usize,
    limit: u64,
    deadline: Instant,
) -> anyhow::Result<u64> {
    let mut buffer = vec![0u8; chunk.max(PONG_SIZE)];
    let mut read = 0u64;
    // Bounded by `limit` and the deadline; each read is bounded by the socket timeout.
    while read < limit && Instant::now() < deadline {
        let count = stream.read(&mut buffer)?;
        if count == 0 {
            break;
        }
        read += count as u64;
    }
    Ok(read)
}

/// Writes `total` bytes in `chunk`-sized writes (stopping at the deadline); returns the bytes.
fn pour(
    stream: &mut TcpStream,
    chunk: usize,
    total: u64,
    deadline: Instant,
) -> anyhow::Result<u64> {
    let buffer = vec![b'x'; chunk];
    let mut written = 0u64;
    // Bounded by `total` and the deadline.
    while written < total && Instant::now() < deadline {
        let size = usize::try_from(total - written).unwrap_or(chunk).min(chunk);
        stream.write_all(buffer.get(..size).unwrap_or_default())?;
        written += size as u64;
    }
    Ok(written)
}

fn check_moved(name: &str, moved: u64, total: u64) -> anyhow::Result<()> {
    if moved != total {
        bail!("{name} moved {moved} of {total} bytes before the deadline");
    }
    Ok(())
}

/// Where a sink server puts what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SinkTo {
    Nothing,
    Files,
    /// Files, each fdatasynced when full.
    SyncedFiles,
}

/// Client writes, server reads: and discards (tcp-sink) or appends to files (tcp-file-sink,
/// tcp-file-sync-sink).
fn tcp_sink(sizes: Sizes, to: SinkTo) -> anyhow::Result<BaselineRow> {
    let Sizes {
        total,
        chunk,
        deadline,
        ..
    } = sizes;
    let name = match to {
        SinkTo::Nothing => "tcp-sink",
        SinkTo::Files => "tcp-file-sink",
        SinkTo::SyncedFiles => "tcp-file-sync-sink",
    };
    let (port, server) = serve(move |mut stream| match to {
        SinkTo::Nothing => drain(&mut stream, chunk, total, deadline),
        SinkTo::Files => drain_to_files(&mut stream, chunk, total, deadline, false),
        SinkTo::SyncedFiles => drain_to_files(&mut stream, chunk, total, deadline, true),
    })?;
    let mut client = connect(port)?;
    let started = Instant::now();
    let written = pour(&mut client, chunk, total, deadline)?;
    client.shutdown(Shutdown::Write)?;
    let read = join(server)?;
    let elapsed = started.elapsed();
    check_moved(name, read.min(written), total)?;
    Ok(row(name, sizes, read, elapsed))
}

/// Like [`drain`], appending what it reads to files in the temp dir: a new file every
/// `FILE_SINK_FILE_SIZE` bytes, the previous one deleted (at most two exist at once). With
/// `sync`, each full file is fdatasynced before the next is created.
fn drain_to_files(
    stream: &mut TcpStream,
    chunk: usize,
    limit: u64,
    deadline: Instant,
    sync: bool,
) -> anyhow::Result<u64> {
    let directory = std::env::temp_dir();
    let path = |index: u64| {
        directory.join(format!(
            "ringbench-file-sink-{}-{index}",
            std::process::id()
        ))
    };
    let mut buffer = vec![0u8; chunk.max(PONG_SIZE)];
    let mut read = 0u64;
    let mut index = 0u64;
    let mut file = File::create(path(index))?;
    let mut in_file = 0u64;
    // Bounded by `limit` and the deadline; each read is bounded by the socket timeout.
    let outcome = (|| {
        while read < limit && Instant::now() < deadline {
            let count = stream.read(&mut buffer)?;
            if count == 0 {
                break;
            }
            if in_file >= FILE_SINK_FILE_SIZE {
                if sync {
                    file.sync_data()?;
                }
                index += 1;
                file = File::create(path(index))?;
                std::fs::remove_file(path(index - 1))?;
                in_file = 0;
            }
            file.write_all(buffer.get(..count).unwrap_or_default())?;
            in_file += count as u64;
            read += count as u64;
        }
        anyhow::Ok(())
    })();
    // A leftover file in the temp dir is harmless; nothing to do if removal fails.
    let _ = std::fs::remove_file(path(index));
    outcome?;
    Ok(read)
}

fn tcp_source(sizes: Sizes) -> anyhow::Result<BaselineRow> {
    let Sizes {
        total,
        chunk,
        deadline,
        ..
    } = sizes;
    let (port, server) = serve(move |mut stream| {
        let written = pour(&mut stream, chunk, total, deadline)?;
        stream.shutdown(Shutdown::Write)?;
        Ok(written)
    })?;
    let mut client = connect(port)?;
    let started = Instant::now();
    let read = drain(&mut client, chunk, total, deadline)?;
    let elapsed = started.elapsed();
    join(server)?;
    check_moved("tcp-source", read, total)?;
    Ok(row("tcp-source", sizes, read, elapsed))
}

/// A temporary file of `size` bytes, removed when dropped.
struct TempFile {
    path: std::path::PathBuf,
    file: File,
}

impl TempFile {
    fn create(size: u64, chunk: usize) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("ringbench-sendfile-{}", std::process::id()));
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let buffer = vec![b'x'; chunk];
        let mut written = 0u64;
        // Bounded by `size`.
        while written < size {
            let count = usize::try_from(size - written).unwrap_or(chunk).min(chunk);
            file.write_all(buffer.get(..count).unwrap_or_default())?;
            written += count as u64;
        }
        Ok(Self { path, file })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // A leftover file in the temp dir is harmless; nothing to do if removal fails.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// sendfile(2) of `total` bytes from `file` (of `file_size` bytes, wrapping around).
fn send_file(stream: &TcpStream, file: &File, file_size: u64, sizes: Sizes) -> anyhow::Result<u64> {
    let mut sent = 0u64;
    let mut offset: libc::off_t = 0;
    let file_end = libc::off_t::try_from(file_size)?;
    // Bounded by `total` and the deadline; each call moves at least one byte or fails.
    while sent < sizes.total && Instant::now() < sizes.deadline {
        if offset >= file_end {
            offset = 0;
        }
        let room = usize::try_from(file_end - offset)?;
        let want = usize::try_from(sizes.total - sent)
            .unwrap_or(room)
            .min(room)
            .min(sizes.chunk);
        // SAFETY: both descriptors are open for the duration of the call (borrowed above),
        // and `offset` is a valid, exclusively borrowed off_t.
        let count =
            unsafe { libc::sendfile(stream.as_raw_fd(), file.as_raw_fd(), &raw mut offset, want) };
        if count < 0 {
            return Err(std::io::Error::last_os_error()).context("sendfile");
        }
        if count == 0 {
            bail!("sendfile made no progress at offset {offset}");
        }
        sent += u64::try_from(count)?;
    }
    Ok(sent)
}

/// How a file source moves file bytes to the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileSend {
    /// pread into a user buffer, then write: what a broker without zero-copy does.
    Copy,
    /// sendfile(2): page cache to socket without a user-space copy.
    Sendfile,
}

/// pread of `total` bytes from `file` (of `file_size` bytes, wrapping around) and a write of
/// each chunk to `stream`.
fn copy_file(
    stream: &mut TcpStream,
    file: &File,
    file_size: u64,
    sizes: Sizes,
) -> anyhow::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buffer = vec![0u8; sizes.chunk];
    let mut sent = 0u64;
    let mut offset = 0u64;
    // Bounded by `total` and the deadline; each read returns at least one byte or fails.
    while sent < sizes.total && Instant::now() < sizes.deadline {
        if offset >= file_size {
            offset = 0;
        }
        let room = usize::try_from(file_size - offset)?;
        let want = usize::try_from(sizes.total - sent)
            .unwrap_or(room)
            .min(room)
            .min(sizes.chunk);
        let target = buffer.get_mut(..want).context("want ≤ chunk")?;
        let count = file.read_at(target, offset)?;
        if count == 0 {
            bail!("file ended early at offset {offset}");
        }
        stream.write_all(buffer.get(..count).context("count ≤ want")?)?;
        offset += count as u64;
        sent += count as u64;
    }
    Ok(sent)
}

fn file_source(sizes: Sizes, how: FileSend) -> anyhow::Result<BaselineRow> {
    let name = match how {
        FileSend::Copy => "file-copy-source",
        FileSend::Sendfile => "sendfile-source",
    };
    let file_size = sizes.total.clamp(1, SENDFILE_FILE_SIZE_MAX);
    let temp = TempFile::create(file_size, sizes.chunk)?;
    let file = temp.file.try_clone()?;
    let (port, server) = serve(move |mut stream| {
        let sent = match how {
            FileSend::Copy => copy_file(&mut stream, &file, file_size, sizes)?,
            FileSend::Sendfile => send_file(&stream, &file, file_size, sizes)?,
        };
        stream.shutdown(Shutdown::Write)?;
        Ok(sent)
    })?;
    let mut client = connect(port)?;
    let started = Instant::now();
    let read = drain(&mut client, sizes.chunk, sizes.total, sizes.deadline)?;
    let elapsed = started.elapsed();
    join(server)?;
    drop(temp);
    check_moved(name, read, sizes.total)?;
    Ok(row(name, sizes, read, elapsed))
}

fn ping_pong(sizes: Sizes) -> anyhow::Result<BaselineRow> {
    let chunk = sizes.chunk;
    let rounds = (sizes.total / chunk as u64).clamp(1, PING_PONG_COUNT_MAX);
    let deadline = sizes.deadline;
    let (port, server) = serve(move |mut stream| {
        let mut request = vec![0u8; chunk];
        let mut served = 0u64;
        // Bounded by `rounds`; the client closes early at its deadline.
        while served < rounds {
            if stream.read_exact(&mut request).is_err() {
                break;
            }
            stream.write_all(&[0u8; PONG_SIZE])?;
            served += 1;
        }
        Ok(served)
    })?;
    let mut client = connect(port)?;
    let request = vec![b'x'; chunk];
    let mut pong = [0u8; PONG_SIZE];
    let mut latency = Latency::new();
    let started = Instant::now();
    let mut done = 0u64;
    while done < rounds && Instant::now() < deadline {
        let sent = Instant::now();
        client.write_all(&request)?;
        client.read_exact(&mut pong)?;
        latency.record(sent.elapsed());
        done += 1;
    }
    let elapsed = started.elapsed();
    client.shutdown(Shutdown::Both)?;
    join(server)?;
    let mut result = row("ping-pong", sizes, done * chunk as u64, elapsed);
    result.latency = Some(latency.percentiles());
    Ok(result)
}
